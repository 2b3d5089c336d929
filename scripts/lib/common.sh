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
