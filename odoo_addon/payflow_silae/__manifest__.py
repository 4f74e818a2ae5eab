{
    "name": "PayFlow (Silae)",
    "summary": "Silae payroll journals imported into Accounting, exactly once, by the PayFlow agent",
    # No series prefix: one code base for Odoo 17, 18 and 19 (Odoo prepends its own).
    "version": "1.1.0",
    "category": "Accounting/Accounting",
    "author": "PayFlow",
    "maintainers": [],
    "website": "https://github.com/payflow",
    "license": "LGPL-3",
    "depends": ["account"],
    "data": [
        "security/ir.model.access.csv",
        "security/payflow_security.xml",
        "views/account_move_views.xml",
        "views/res_config_settings_views.xml",
        "views/payflow_dossier_views.xml",
        "views/payflow_run_views.xml",
        "views/payflow_import_wizard_views.xml",
        "views/menus.xml",
    ],
    "installable": True,
    "application": False,
}
