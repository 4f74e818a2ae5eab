from . import test_payflow_import
from . import test_agent_live
from . import test_access
from . import test_agent_errors
from . import test_i18n
from . import test_outcome
from . import test_missing_accounts
from . import test_french_screens
