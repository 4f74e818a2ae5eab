from . import payflow_import_wizard
from . import payflow_missing_accounts
