from . import account_move
from . import payflow_agent
from . import payflow_dossier
from . import payflow_run
from . import payflow_import_wizard
from . import res_config_settings
