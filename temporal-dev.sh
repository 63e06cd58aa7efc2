#!/usr/bin/env bash
# Guardian's embedded default Temporal: the Temporal CLI dev server on 127.0.0.1, persisted in .temporal/.
# Usage: ./temporal-dev.sh [start|stop|status|install]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state_dir=${TEMPORAL_DEV_DIR:-$here/.temporal}
port=${TEMPORAL_DEV_PORT:-7233}
ui_port=${TEMPORAL_DEV_UI_PORT:-8233}
cli_module=github.com/temporalio/cli/cmd/temporal
cli_version=${TEMPORAL_CLI_VERSION:-v1.5.1}
pid_file=$state_dir/server.pid
log_file=$state_dir/server.log

find_cli() {
  if command -v temporal >/dev/null 2>&1; then command -v temporal; return; fi
  if command -v go >/dev/null 2>&1; then
    local gobin
    gobin=$(go env GOBIN); [ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
    [ -x "$gobin/temporal" ] && { echo "$gobin/temporal"; return; }
  fi
  [ -x "$HOME/go/bin/temporal" ] && { echo "$HOME/go/bin/temporal"; return; }
  return 1
}

install_cli() {
  if cli=$(find_cli); then echo "Temporal CLI present: $cli"; return; fi
  if ! command -v go >/dev/null 2>&1; then
    echo "error: the Temporal CLI is not installed and Go is not on PATH to build it." >&2
    echo "Install Go (https://go.dev/doc/install) or put a 'temporal' binary on PATH, then run: $0 install" >&2
    exit 1
  fi
  echo "Building the Temporal CLI ($cli_module@$cli_version); this takes a few minutes the first time…"
  go install "$cli_module@$cli_version"
  cli=$(find_cli) || { echo "error: go install finished but no temporal binary was found" >&2; exit 1; }
  echo "Installed $cli"
}

healthy() {
  "$cli" operator cluster health --address "127.0.0.1:$port" >/dev/null 2>&1
}

our_pid() {
  # The PID in our pid file, only if that process is still the dev server we started.
  [ -f "$pid_file" ] || return 1
  local pid; pid=$(cat "$pid_file")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "server start-dev" || return 1
  echo "$pid"
}

start() {
  install_cli >/dev/null
  if healthy; then echo "Temporal dev server already running on 127.0.0.1:$port (UI http://127.0.0.1:$ui_port)"; return; fi
  mkdir -p "$state_dir"
  local attrs=()
  for a in GuardianMode=Keyword GuardianHost=Keyword GuardianResource=Keyword GuardianOutcome=Keyword GuardianMttrMs=Int; do
    attrs+=(--search-attribute "$a")
  done
  nohup "$cli" server start-dev \
    --ip 127.0.0.1 --port "$port" --ui-port "$ui_port" \
    --db-filename "$state_dir/temporal.db" \
    --dynamic-config-value frontend.enableServerVersionCheck=false \
    --dynamic-config-value system.enableActivityEagerExecution=true \
    --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
    --log-level warn \
    "${attrs[@]}" >>"$log_file" 2>&1 &
  echo $! >"$pid_file"
  for _ in $(seq 1 120); do
    if healthy; then
      echo "Temporal dev server started on 127.0.0.1:$port (UI http://127.0.0.1:$ui_port), state in $state_dir"
      return
    fi
    if ! our_pid >/dev/null; then
      echo "error: the dev server exited during start; last lines of $log_file:" >&2
      tail -n 20 "$log_file" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "error: the dev server did not answer on 127.0.0.1:$port within 60 s; see $log_file" >&2
  exit 1
}

stop() {
  local pid
  if ! pid=$(our_pid); then echo "No dev server started by this script is running."; rm -f "$pid_file"; return; fi
  kill -TERM "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pid_file"; echo "Stopped the dev server (pid $pid)."; return; }
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  echo "Stopped the dev server (pid $pid, after SIGKILL)."
}

status() {
  cli=$(find_cli) || { echo "Temporal CLI not installed (run: $0 install)"; exit 1; }
  if healthy; then echo "running on 127.0.0.1:$port (UI http://127.0.0.1:$ui_port)"; else echo "not running"; exit 3; fi
}

cli=""
case "${1:-start}" in
  install) install_cli ;;
  start) cli=$(find_cli || true); start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status|install]" >&2; exit 2 ;;
esac
