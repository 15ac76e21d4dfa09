"""``videojobs-bot check`` starts quickly: it never imports the tracking stack
(SQLAlchemy, Alembic), which only the modes that keep state need."""

from __future__ import annotations

import subprocess
import sys


def test_check_imports_neither_sqlalchemy_nor_alembic() -> None:
    code = (
        "import sys\n"
        "import bot.cli, bot.serve.check, bot.wiring.metastudio, bot.wiring.services\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'alembic', 'psycopg') or m.startswith('bot.tracking'))\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)

    assert result.stdout.strip() == "[]"
