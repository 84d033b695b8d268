# Sourced by run.sh and test.sh: make sure .venv exists and holds this project with the given extras.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
extras="${1:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "Đôn Đốc: tạo môi trường Python trong .venv …" >&2
  "$python" -m venv "$venv"
fi
stamp="$venv/.dondoc-installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
  echo "Đôn Đốc: cài đặt các thư viện (lần đầu mất vài phút) …" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e "$here${extras:+[$extras]}"
  touch "$stamp"
fi
