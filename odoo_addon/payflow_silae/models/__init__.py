from . import account_move
from . import payflow_corrections
from . import payflow_agent
from . import payflow_dossier
from . import payflow_run
from . import res_config_settings
