from . import test_payflow_import
