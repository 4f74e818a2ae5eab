import os
import re

from odoo.tests import TransactionCase, tagged

I18N = os.path.join(os.path.dirname(os.path.dirname(__file__)), "i18n")


def entries(path):
    """(msgid, msgstr) of a .po file, the header left out."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = []
    for block in re.split(r"\n\s*\n", text):
        parts = re.split(r"^msgstr ", block, flags=re.M)
        if len(parts) != 2 or "msgid " not in parts[0]:
            continue
        msgid = "".join(re.findall(r'"(.*)"', parts[0].split("msgid ", 1)[1]))
        msgstr = "".join(re.findall(r'"(.*)"', parts[1]))
        if msgid:
            found.append((msgid, msgstr))
    return found


@tagged("post_install", "-at_install")
class TestI18n(TransactionCase):
    def test_french_is_complete(self):
        french = entries(os.path.join(I18N, "fr.po"))
        self.assertGreater(len(french), 100)
        self.assertEqual([m for m, s in french if not s], [])
        template = {m for m, _s in entries(os.path.join(I18N, "payflow_silae.pot"))}
        self.assertEqual(template - {m for m, _s in french}, set())
