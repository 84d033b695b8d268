#!/usr/bin/env bash
# Runs the bot: Telegram when TELEGRAM_BOT_TOKEN is set, otherwise a chat in this terminal
# on the embedded SQLite database (with the demo loaded the first time). Sets itself up on first use.
set -euo pipefail
cd "$(dirname "$0")"
source ./setup-env.sh ""
exec .venv/bin/dondoc run "$@"
