#!/usr/bin/env bash
# The Swagger UI files served at /docs come from the npm package swagger-ui-dist, pinned in
# web/vendor/swagger-ui/package.json and package-lock.json. They are committed, so building
# and running the server needs no Node.js; this script makes them and proves them.
#
#   scripts/vendor-docs-ui.sh          # npm ci the locked package, copy its files beside the lock
#   scripts/vendor-docs-ui.sh --check  # fail unless the committed copies are byte-identical to
#                                      # the locked package's (CI: no drift, no hand edits)
#
# To upgrade: change the version in package.json, `npm install --ignore-scripts` there (it
# rewrites the lock), run this script, and commit the lock and the files together.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=web/vendor/swagger-ui
files=(swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE)

work=$(mktemp -d -t vendor-docs-ui-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$dir/package.json" "$dir/package-lock.json" "$work/"
# --ignore-scripts: the package's one dependency (@scarf/scarf) has an install script that
# reports the download to its vendor; nothing here needs it.
npm ci --prefix "$work" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
package=$work/node_modules/swagger-ui-dist
version=$(node -p "require('$package/package.json').version")

if [ "${1:-}" = --check ]; then
    for file in "${files[@]}"; do
        if ! cmp -s "$package/$file" "$dir/$file"; then
            echo "vendor-docs-ui.sh: $dir/$file differs from swagger-ui-dist $version's; run scripts/vendor-docs-ui.sh" >&2
            exit 1
        fi
    done
    echo "vendor-docs-ui.sh: ${files[*]} are swagger-ui-dist $version's, byte for byte" >&2
else
    for file in "${files[@]}"; do cp "$package/$file" "$dir/$file"; done
    echo "vendor-docs-ui.sh: copied ${files[*]} of swagger-ui-dist $version into $dir" >&2
fi
