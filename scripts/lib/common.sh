# Sourced by the scripts: small shell helpers.

# `at_exit "command"` registers cleanup to run when the script exits, last registered first.
if [ -z "${at_exit_steps+x}" ]; then
    at_exit_steps=()
    at_exit() { at_exit_steps+=("$1"); }
    run_at_exit() {
        local i
        for ((i = ${#at_exit_steps[@]} - 1; i >= 0; i--)); do eval "${at_exit_steps[i]}" || true; done
    }
    trap run_at_exit EXIT
fi

# Prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# `wait_for URL` waits up to 30 s for anything to answer at URL, else fails the script.
wait_for() {
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "$(basename "$0"): nothing answers at $1" >&2
    exit 1
}

# `start_local_api NAME [VAR=VALUE...]` builds the local server (debug) and runs it until the
# script exits, on a free port and a database of its own (NAME_<port>), with the variables
# given; sets `base` (http://127.0.0.1:<port>) once it answers.
start_local_api() {
    local name=$1 port
    shift
    cargo build --quiet -p local-api
    port=$(free_port)
    base=http://127.0.0.1:$port
    env LOCAL_ADDR="127.0.0.1:$port" MONGODB_DATABASE="${name}_$port" RUST_LOG=warn \
        JWT_SECRET="$name-check-secret-$name-check-secret" "$@" \
        "${CARGO_TARGET_DIR:-target}/debug/local-api" &
    at_exit "kill $!"
    wait_for "$base/"
}
