from . import test_payflow_import
from . import test_agent_live
from . import test_access
from . import test_agent_errors
from . import test_i18n
