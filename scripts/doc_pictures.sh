#!/usr/bin/env bash
# Redraw the README's two pictures: docs/terminal-run.png (the coloured matrix, as a terminal shows
# it) and docs/page.png (the --save page.html page), in headless chromium (`make test` installs it).
# Run from the repository root with the venv active: bash scripts/doc_pictures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
text="The cat sat on the mat because it was warm."
FORCE_COLOR=1 COLORTERM=truecolor COLUMNS=100 attninspect run "$text" --focus it >"$work/ansi.txt" 2>/dev/null
python - "$work" "$text" <<'PY'
import sys
from rich.console import Console
from rich.text import Text

work, text = sys.argv[1], sys.argv[2]
console = Console(record=True, width=100, force_terminal=True, color_system="truecolor",
                  file=open(f"{work}/null.txt", "w"))
console.print(Text.from_ansi(open(f"{work}/ansi.txt").read()), end="")
console.save_svg(f"{work}/terminal.svg", title=f'attninspect run "{text}" --focus it')
PY
attninspect run "$text" --save "$work/page.html" >/dev/null
shot() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "--window-size=$1" "--screenshot=$2" "$3" 2>/dev/null; }
shot 1240,1076 docs/terminal-run.png "file://$work/terminal.svg"
shot 1200,900 docs/page.png "file://$work/page.html#layer=5&head=11"
