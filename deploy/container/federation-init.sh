#!/bin/sh
# Sets up the local three-country federation (KZ, UZ, TJ) of compose.yaml in one folder: key ceremony of
# each country with `tulpar init`, every root pinned in every other trust store with `tulpar trust add`
# (fingerprints checked), a node.toml per country from the example configurations, and bearer tokens for
# an officer and the focal point of each country (written to <cc>/tokens.txt, mode 0600).
#
# For a demonstration only: one folder holds every country's offline keys. A real country runs the
# ceremony on its own, keeps offline/ offline, and exchanges public/ and the fingerprint with partners.
#
# Runs once: a folder that already holds a federation is left as it is.
#
# Environment: FEDERATION_DIR (default /federation), CONFIGS (default /usr/share/tulpar/federation),
# and the host names the nodes reach each other by, HOST_KZ, HOST_UZ, HOST_TJ (default kz, uz, tj).
set -eu

dir=${FEDERATION_DIR:-/federation}
configs=${CONFIGS:-/usr/share/tulpar/federation}

if [ -e "$dir/.ready" ]; then
    echo "federation already set up in $dir"
    exit 0
fi
mkdir -p "$dir"

# country, its units, its federation port (the client API port is 40 lower, as in the configurations)
set -- "KZ KZ-AKTAU-PCU,KZ-ALTYNKOL-PCU 7441" "UZ UZ-TASHKENT-PCU 7442" "TJ TJ-DUSHANBE-PCU 7443"

for line in "$@"; do
    set -- $line
    cc=$1 units=$2 port=$3
    lower=$(echo "$cc" | tr 'A-Z' 'a-z')
    eval host=\${HOST_$cc:-$lower}
    rm -rf "${dir:?}/$lower"
    tulpar init --country "$cc" --units "$units" --endpoint "$host:$port" \
        --host 127.0.0.1 --host localhost --out "$dir/$lower" \
        > "$dir/$lower.fingerprint" 2> /dev/null
    echo "$cc: root fingerprint $(cat "$dir/$lower.fingerprint"), federation endpoint $host:$port"
done

# country, folder, and the unit its officer token acts for
for line in "KZ kz KZ-AKTAU-PCU" "UZ uz UZ-TASHKENT-PCU" "TJ tj TJ-DUSHANBE-PCU"; do
    set -- $line
    cc=$1 lower=$2 unit=$3
    for other in kz uz tj; do
        [ "$other" = "$lower" ] && continue
        other_cc=$(echo "$other" | tr 'a-z' 'A-Z')
        tulpar trust add --store "$dir/$lower/node/trust" --country "$other_cc" \
            --root-key "$dir/$other/public/root.pub" \
            --fingerprint "$(cat "$dir/$other.fingerprint")" \
            --directory "$dir/$other/public/directory.env" > /dev/null 2>&1
    done
    cp "$configs/$lower.toml" "$dir/$lower/node.toml"
    : > "$dir/$lower/tokens.txt"
    chmod 600 "$dir/$lower/tokens.txt"
    for role in officer focal-point; do
        generated=$(tulpar token new 2> /dev/null)
        token=$(echo "$generated" | sed -n 's/^token: *//p')
        sha=$(echo "$generated" | sed -n 's/^sha256: *//p')
        units="[]"
        [ "$role" = officer ] && units="[\"$unit\"]"
        printf '\n[[client_api.tokens]]\nname = "%s"\nsha256 = "%s"\nrole = "%s"\nunits = %s\n' \
            "$role" "$sha" "$role" "$units" >> "$dir/$lower/node.toml"
        echo "TULPAR_TOKEN_$(echo "$role" | tr 'a-z-' 'A-Z_')=$token" >> "$dir/$lower/tokens.txt"
    done
    echo "$cc: trusts the two others; node.toml and tokens.txt written"
done

touch "$dir/.ready"
echo "federation ready in $dir"
