from odoo import _, fields, models
from odoo.exceptions import UserError

from .payflow_agent import DEFAULT_URL, PARAM_TOKEN, PARAM_URL


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    payflow_agent_url = fields.Char(
        string="PayFlow agent URL",
        config_parameter=PARAM_URL,
        default=DEFAULT_URL,
        groups="base.group_system",
        help="Where the PayFlow agent of this database answers (rpc.listen in its "
        "configuration), e.g. http://127.0.0.1:8390.",
    )
    # Write-only and never stored in the settings' own table: the inverse puts a typed token
    # in the parameter, the compute always shows an empty field.
    payflow_agent_token = fields.Char(
        string="PayFlow agent token",
        compute="_compute_payflow_agent_token",
        inverse="_inverse_payflow_agent_token",
        groups="base.group_system",
        help="The agent's rpc_token (payflow-agent secret set rpc_token). Leave empty to "
        "keep the current one.",
    )
    payflow_agent_token_set = fields.Boolean(
        string="PayFlow agent token set",
        compute="_compute_payflow_agent_token_set",
        groups="base.group_system",
    )

    payflow_smtp_missing = fields.Boolean(
        string="Alert e-mails without SMTP",
        compute="_compute_payflow_smtp_missing",
        groups="base.group_system",
    )

    def _compute_payflow_smtp_missing(self):
        Dossier = self.env["payflow.dossier"].sudo()
        missing = Dossier._payflow_smtp_known_missing() and bool(
            Dossier.search_count([("alert_emails", "!=", False)])
        )
        for settings in self:
            settings.payflow_smtp_missing = missing

    def _compute_payflow_agent_token_set(self):
        stored = bool(self.env["ir.config_parameter"].sudo().get_param(PARAM_TOKEN))
        for settings in self:
            settings.payflow_agent_token_set = stored

    def get_values(self):
        # A new settings form gets its values here (default_get), not from the compute.
        res = super().get_values()
        if self.env.is_admin():
            res["payflow_agent_token_set"] = bool(
                self.env["ir.config_parameter"].sudo().get_param(PARAM_TOKEN)
            )
            Dossier = self.env["payflow.dossier"].sudo()
            res["payflow_smtp_missing"] = Dossier._payflow_smtp_known_missing() and bool(
                Dossier.search_count([("alert_emails", "!=", False)])
            )
        return res

    def _compute_payflow_agent_token(self):
        for settings in self:
            settings.payflow_agent_token = False

    def _inverse_payflow_agent_token(self):
        for settings in self:
            token = (settings.payflow_agent_token or "").strip()
            if token and self.env.is_admin():
                self.env["ir.config_parameter"].sudo().set_param(PARAM_TOKEN, token)

    def action_payflow_test_agent(self):
        """Calls the agent's ``status`` with the URL and token of the form."""
        self.ensure_one()
        agent = self.env["payflow.agent"]
        url = (self.payflow_agent_url or "").strip()
        token = agent._settings()[1]
        if not url or not token:
            return self._payflow_notify(
                "warning",
                _("PayFlow agent"),
                _("Enter the agent URL and its token first."),
            )
        try:
            status = self.env["payflow.dossier"]._payflow_note_status(
                agent._call_at(url, token, "status")
            )
        except UserError as e:
            # Shown like a success: a notification, not an error dialog.
            return self._payflow_notify("danger", _("PayFlow agent"), str(e))
        return self._payflow_notify("success", _("PayFlow agent"), self._payflow_status_text(status))

    def _payflow_status_text(self, status):
        status = status or {}
        odoo = status.get("odoo") or {}
        silae = status.get("silae") or {}
        last = status.get("last_run") or {}
        lines = [
            _(
                "Agent %(instance)s, version %(version)s.",
                instance=status.get("instance") or "?",
                version=status.get("version") or "?",
            ),
            _(
                "Odoo %(url)s, database %(db)s: %(state)s.",
                url=odoo.get("url") or "?",
                db=odoo.get("database") or "?",
                state=_("reachable") if odoo.get("reachable") else _("not reachable"),
            ),
            _("Silae: configured.") if silae.get("configured") else _("Silae: not configured."),
        ]
        if last:
            lines.append(
                _(
                    "Last run: dossier %(dossier)s, %(period)s, %(status)s.",
                    dossier=last.get("dossier") or "?",
                    period=last.get("period") or "?",
                    status=last.get("status") or "?",
                )
            )
        if status.get("next_due"):
            lines.append(_("Next due date: %(date)s.", date=status["next_due"]))
        return "\n".join(lines)

    def _payflow_notify(self, kind, title, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"type": kind, "title": title, "message": message, "sticky": True},
        }
