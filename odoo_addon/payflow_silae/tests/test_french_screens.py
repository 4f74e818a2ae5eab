"""Every text of PayFlow's screens, as a French user gets them, is French."""

import re

from lxml import etree

from odoo.tests import TransactionCase, tagged

SCREENS = {
    "payflow.dossier": ["list", "form", "search"],
    "payflow.run": ["list", "form", "search"],
    "payflow.import.wizard": ["form"],
    "payflow.missing.accounts": ["form"],
}
# Words that are English only (French screens share "Message", "Type", "Code", "Import"...).
ENGLISH = re.compile(
    r"\b(the|and|of|with|to|is|are|Refresh|Close|Start|Preview|Previewed|Failed|Imported|Running|"
    r"Interrupted|Entries|Accounts|Create|Cancel|Like|nothing|Summary|Name|Company|Period|"
    r"Status|Lines|Runs|Settings|Waiting|Import now|Import log|Technical|Outcome)\b"
)
ATTRIBUTES = ("string", "help", "placeholder", "title", "sum", "confirm")


@tagged("post_install", "-at_install")
class TestFrenchScreens(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")
        modules = cls.env["ir.module.module"].search([("name", "in", ["base", "account", "payflow_silae"])])
        modules._update_translations(["fr_FR"])

    def _texts(self, model, kinds):
        env = self.env(context=dict(self.env.context, lang="fr_FR"))
        # Odoo 17 calls list views "tree".
        if "list" not in dict(env["ir.ui.view"]._fields["type"].selection):
            kinds = ["tree" if kind == "list" else kind for kind in kinds]
        views = env[model].get_views([(False, kind) for kind in kinds])
        texts = []
        for kind in kinds:
            arch = etree.fromstring(views["views"][kind]["arch"])
            for node in arch.iter():
                if not isinstance(node.tag, str):
                    continue
                texts += [node.get(a) for a in ATTRIBUTES if node.get(a)]
                texts += [t.strip() for t in (node.text, node.tail) if t and t.strip()]
        for description in views["models"].values():
            fields = description.get("fields", description)
            for name, field in fields.items():
                texts.append(field.get("string") or name)
                texts += [label for _value, label in field.get("selection") or []]
        return texts

    def test_no_english_word_on_the_screens(self):
        english = []
        for model, kinds in SCREENS.items():
            for text in self._texts(model, kinds):
                if ENGLISH.search(text):
                    english.append(f"{model}: {text}")
        self.assertEqual(english, [])
