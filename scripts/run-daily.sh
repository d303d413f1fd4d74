#!/bin/sh
# The daily job for a scheduler (cron, a systemd timer) or by hand: `tpd-programs run`.
#
# Usage: scripts/run-daily.sh [CONFIG]
#   CONFIG        the configuration file (default: $TPD_CONFIG, else config/programs.toml
#                 in the folder above this scripts/ folder)
# Environment (all optional):
#   TPD_VENV      the virtual environment the toolkit is installed in
#                 (default: .venv in the folder above scripts/)
#   TPD_ENV_FILE  NAME=value lines for secrets such as the SMTP password, read when it
#                 exists (default: tpd-programs.env beside the configuration file).
#                 Keep it readable by its owner only: chmod 600.
# Exit codes are those of `tpd-programs run`: 0 every step succeeded, 1 a step failed (see
# the log under the output folder), 2 bad usage or setup, 3 another run is still going.
set -u
umask 077

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
config=${1:-${TPD_CONFIG:-$root/config/programs.toml}}
venv=${TPD_VENV:-$root/.venv}
env_file=${TPD_ENV_FILE:-$(dirname "$config")/tpd-programs.env}

if [ ! -f "$venv/bin/activate" ]; then
    echo "run-daily.sh: no virtual environment at $venv: set TPD_VENV" >&2
    exit 2
fi
if [ -f "$env_file" ]; then
    set -a
    . "$env_file"
    set +a
fi
. "$venv/bin/activate"
exec tpd-programs run --config "$config" --quiet
