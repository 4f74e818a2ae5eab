"""The accounts a payroll needs and the company's chart lacks, fixed from a failed run: created
in the chart, or mapped to existing accounts in the dossier's account map."""

import json

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError


def common_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PayflowMissingAccounts(models.TransientModel):
    _name = "payflow.missing.accounts"
    _description = "Create the missing accounts of a payroll"

    run_id = fields.Many2one("payflow.run", required=True, readonly=True)
    dossier_id = fields.Many2one(related="run_id.dossier_id")
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    mode = fields.Selection(
        [("create", "Create the accounts"), ("map", "Map to existing accounts")],
        required=True,
        default="create",
        readonly=True,
    )
    line_ids = fields.One2many("payflow.missing.accounts.line", "wizard_id", string="Accounts")
    # Opened from the import wizard: the accounts done, it comes back to preview again.
    import_wizard_id = fields.Many2one(
        "payflow.import.wizard", string="Import a payroll", readonly=True, ondelete="cascade"
    )

    @api.model
    def _payflow_lines(self, run, company):
        """One line per missing account of the run's outcome: the code Silae's chart gives at
        the length of the company's codes, Silae's label as name, and the type and reconcile
        flag of the company's nearest account (the longest common code prefix)."""
        try:
            facts = json.loads(run.outcome or "{}").get("facts") or {}
        except ValueError:
            facts = {}
        missing = facts.get("accounts") or []
        if not missing:
            raise UserError(_("This run has no missing accounts."))
        Account = self.env["account.account"].with_company(company)
        chart = Account.search(self._payflow_company_domain(company))
        lines = []
        for item in missing:
            tried = item.get("tried") or [item.get("code")]
            size = len(chart[:1].code or "") if chart else 0
            code = next((c for c in tried if size and len(c) == size), tried[-1])
            if chart:
                nearest = max(chart, key=lambda a: (common_prefix(a.code, code), -abs(len(a.code) - len(code))))
            else:
                nearest = Account
            lines.append(
                Command.create(
                    {
                        "code": code,
                        "silae_code": item.get("code"),
                        "name": item.get("label") or item.get("code"),
                        "nearest_id": nearest.id or False,
                        "map_account_id": nearest.id or False,
                        "account_type": nearest.account_type or "liability_current",
                        "reconcile": bool(nearest.reconcile),
                    }
                )
            )
        return lines

    @api.model
    def _payflow_company_domain(self, company):
        if "company_ids" in self.env["account.account"]._fields:
            return [("company_ids", "in", company.id)]
        return [("company_id", "=", company.id)]

    @api.model
    def _payflow_open(self, run, mode="create", import_wizard=None):
        company = run.company_id or run.dossier_id.company_id or self.env.company
        if mode == "map" and not run.dossier_id:
            raise UserError(_("This run's dossier is no longer set up: its account map cannot change."))
        wizard = self.create(
            {
                "run_id": run.id,
                "company_id": company.id,
                "mode": mode,
                "import_wizard_id": import_wizard.id if import_wizard else False,
                "line_ids": self._payflow_lines(run, company),
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
            "name": _("Create the missing accounts")
            if mode == "create"
            else _("Map to existing accounts"),
        }

    def _payflow_done(self, title, message):
        then = {"type": "ir.actions.act_window_close"}
        if self.import_wizard_id:
            then = self.import_wizard_id._payflow_preview_again()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": "success",
                "sticky": False,
                "next": then,
            },
        }

    def action_confirm(self):
        self.ensure_one()
        if self.mode == "map":
            return self._payflow_map()
        Account = self.env["account.account"].with_company(self.company_id)
        created = Account
        for line in self.line_ids:
            created |= Account.create(
                {
                    "code": line.code,
                    "name": line.name,
                    "account_type": line.account_type,
                    "reconcile": line.reconcile,
                }
            )
        message = _(
            "%(count)s account(s) created: %(codes)s. Preview the payroll again to import it.",
            count=len(created),
            codes=", ".join(created.mapped("code")),
        )
        return self._payflow_done(_("Accounts created"), message)

    def _payflow_map(self):
        """Each Silae account to the picked account, in the dossier's account map (sent to the
        agent with the dossier, as codes)."""
        unmapped = self.line_ids.filtered(lambda line: not line.map_account_id)
        if unmapped:
            raise UserError(
                _(
                    "Choose an Odoo account for each Silae account (%(codes)s).",
                    codes=", ".join(unmapped.mapped("silae_code")),
                )
            )
        dossier = self.run_id.dossier_id
        existing = {m.source: m for m in dossier.account_map_ids}
        commands = []
        for line in self.line_ids:
            values = {"kind": "account", "source": line.silae_code, "account_id": line.map_account_id.id}
            if line.silae_code in existing:
                commands.append(Command.update(existing[line.silae_code].id, values))
            else:
                commands.append(Command.create(values))
        dossier.write({"mapping_ids": commands})
        pairs = dossier.account_map_ids.filtered(lambda m: m.source in self.line_ids.mapped("silae_code"))
        message = _(
            "Account map of %(dossier)s: %(pairs)s. Preview the payroll again to import it.",
            dossier=dossier.name,
            pairs=", ".join(f"{m.source} → {m.target}" for m in pairs),
        )
        return self._payflow_done(_("Account map saved"), message)


class PayflowMissingAccountsLine(models.TransientModel):
    _name = "payflow.missing.accounts.line"
    _description = "A missing account to create"
    _order = "code"

    wizard_id = fields.Many2one("payflow.missing.accounts", required=True, ondelete="cascade")
    silae_code = fields.Char(readonly=True)
    code = fields.Char(required=True)
    name = fields.Char(required=True)
    account_type = fields.Selection(selection="_selection_account_type", string="Type", required=True)
    reconcile = fields.Boolean(string="Allow reconciliation")
    nearest_id = fields.Many2one("account.account", string="Like", readonly=True)
    company_id = fields.Many2one(related="wizard_id.company_id")
    map_account_id = fields.Many2one(
        "account.account",
        string="Odoo account",
        domain=lambda self: self.env["payflow.dossier.mapping"]._payflow_account_domain(),
        help="The existing account this Silae account goes to.",
    )

    @api.model
    def _selection_account_type(self):
        """Odoo's account types, labelled in the user's language."""
        return self.env["account.account"]._fields["account_type"]._description_selection(self.env)
