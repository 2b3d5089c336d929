# Sourced by scripts that need a MongoDB: unless MONGODB_URI is already set, starts a throwaway
# one (scripts/mongo.sh on a free port, data in a temporary directory), exports MONGODB_URI, and
# removes it all when the calling script exits.
source scripts/lib/common.sh
if [ -z "${MONGODB_URI:-}" ]; then
    MONGO_PORT=$(free_port)
    MONGO_DBPATH=$(mktemp -d -t chat-backend-mongo-XXXXXX)
    MONGO_TEST_COMMANDS=1  # the tests' fail points
    export MONGO_PORT MONGO_DBPATH MONGO_TEST_COMMANDS
    at_exit 'scripts/mongo.sh stop; rm -rf "$MONGO_DBPATH" "$MONGO_DBPATH.lock"'
    MONGODB_URI=$(scripts/mongo.sh start)
    export MONGODB_URI
fi
