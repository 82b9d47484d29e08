#!/usr/bin/env bash
# config_files.sh - config.json loading through `gostream check-config`: every type error
# path, comments, nested groups, unknown keys, malformed files, lookup order, masking.
. "$TOP_SRCDIR/tests/lib/common.sh"

# bad JSON-BODY EXPECTED-STDERR-REGEX: the config must be refused with status 3.
bad() {
	printf '%s\n' "$1" > "$T/c.json"
	local err rc
	err=$("$GOSTREAM" check-config --config "$T/c.json" 2>&1 >/dev/null); rc=$?
	expect_eq "status for $1" "$rc" 3
	expect_match "message for $1" "$err" "$2"
}
# good JSON-BODY: accepted; the effective JSON is left in $out, stderr in $err.
good() {
	printf '%s\n' "$1" > "$T/c.json"
	out=$("$GOSTREAM" check-config --config "$T/c.json" 2>"$T/err"); local rc=$?
	err=$(cat "$T/err")
	expect_eq "status for $1" "$rc" 0
}
get() { printf '%s' "$out" | "$PY" -c "import json,sys; d=json.load(sys.stdin); print(json.dumps(eval('d' + sys.argv[1])))" "$1"; }

C="$T/c.json"
bad '{"read_ahead_budget_mb": "abc"}' \
	"^gostream: $C: read_ahead_budget_mb: must be an integer between 16 and 65536 \(got \"abc\"\)$"
bad '{"read_ahead_budget_mb": 8}' "read_ahead_budget_mb: must be an integer between 16 and 65536 \(got 8\)"
bad '{"read_ahead_budget_mb": 70000}' "\(got 70000\)"
bad '{"read_ahead_budget_mb": 100.5}' "must be an integer .*\(got 100.5\)"
bad '{"read_ahead_budget_mb": null}' "\(got null\)"
bad '{"proxy_listen_port": 0}' "proxy_listen_port: must be an integer between 1 and 65535"
bad '{"natpmp": {"enabled": "yes"}}' "natpmp.enabled: must be true or false \(got \"yes\"\)"
bad '{"log_level": 3}' "log_level: must be a string \(got 3\)"
bad '{"log_level": "loud"}' "log_level: must be one of error, warn, info, debug \(got \"loud\"\)"
bad '{"listen_address": "localhost:80"}' "listen_address: must be an IPv4 or IPv6 address"
bad '{"plex": {"url": "ftp://x"}}' "plex.url: must be an http:// or https:// URL, or empty"
bad '{"plex": {"library_id": -1}}' "plex.library_id: must be an integer between 0 and 1000000"
bad '{"attr_timeout": -1}' "attr_timeout: must be a number between 0 and 3600 \(got -1\)"
bad '{"engine": {"CacheSize": 1024}}' "engine.CacheSize: must be an integer between 16777216 and"
bad '{"engine": {"ResponsiveMode": 1}}' "engine.ResponsiveMode: must be true or false \(got 1\)"
bad '{"api_port": 9000, "metrics_port": 9000}' "api_port and metrics_port: must differ \(both 9000\)"
bad '{"natpmp": {"enabled": true, "gateway": "fe80::1"}}' "natpmp.gateway: must be an IPv4 address"
bad '{"natpmp": {"enabled": true, "refresh_seconds": 60}}' "natpmp.refresh_seconds: must be below natpmp.lifetime_seconds"
bad '[1, 2]' "$C: the top level must be a JSON object"
bad '' "^gostream: $C: empty file \(expected a JSON object\)$"
bad '// only a comment' "$C: empty file"
bad '{
  "api_port": 8090,
  "metrics_port": 8096 x
}' "^gostream: $C:3:(2[0-9]): malformed JSON$"
bad '{"a": 1} {"b": 2}' "$C:1:10: unexpected text after the JSON object"
bad '{ /* never closed
 "a": 1 }' "$C:1:3: unterminated /\* comment"

# Comments: // and /* */ anywhere outside strings; // inside a string is data.
good '// leading comment
{
  /* block
     comment */
  "read_ahead_budget_mb": 512, // trailing
  "plex": { "url": "http://plex.local:32400/a//b" }
}'
expect_eq "comment file value" "$(get "['read_ahead_budget_mb']")" 512
expect_eq "// inside a string kept" "$(get "['plex']['url']")" '"http://plex.local:32400/a//b"'

# Unknown keys are reported by name (top level and in groups) and do not stop start-up.
good '{"read_ahead_budgt_mb": 1, "plex": {"tokn": "x"}, "engine": {"CacheSize": 33554432}}'
expect_match "unknown top-level key" "$err" "unknown key \"read_ahead_budgt_mb\" \(ignored\)"
expect_match "unknown nested key" "$err" "unknown key \"plex.tokn\" \(ignored\)"
expect_eq "engine group value" "$(get "['engine']['CacheSize']")" 33554432

# Defaults are the brief's.
good '{}'
expect_eq "default read_ahead_budget_mb" "$(get "['read_ahead_budget_mb']")" 256
expect_eq "default disk_warmup_quota_gb" "$(get "['disk_warmup_quota_gb']")" 32
expect_eq "default warmup_head_size_mb" "$(get "['warmup_head_size_mb']")" 64
expect_eq "default warmup_tail_size_mb" "$(get "['warmup_tail_size_mb']")" 16
expect_eq "default master_concurrency_limit" "$(get "['master_concurrency_limit']")" 25
expect_eq "default proxy_listen_port" "$(get "['proxy_listen_port']")" 8080
expect_eq "default api_port" "$(get "['api_port']")" 8090
expect_eq "default metrics_port" "$(get "['metrics_port']")" 8096
expect_eq "default natpmp.vpn_interface" "$(get "['natpmp']['vpn_interface']")" '"wg0"'
expect_eq "default CacheSize" "$(get "['engine']['CacheSize']")" 67108864
expect_eq "default TorrentDisconnectTimeout" "$(get "['engine']['TorrentDisconnectTimeout']")" 60
expect_eq "default ResponsiveMode" "$(get "['engine']['ResponsiveMode']")" true

# Secrets are masked; relative paths resolve against the config file's folder.
good '{"plex": {"token": "s3cret"}, "tmdb_api_key": "k", "api_token": "", "state_dir": "st"}'
expect_eq "plex.token masked" "$(get "['plex']['token']")" '"********"'
expect_eq "tmdb_api_key masked" "$(get "['tmdb_api_key']")" '"********"'
expect_eq "empty secret shown empty" "$(get "['api_token']")" '""'
expect_eq "relative state_dir" "$(get "['state_dir']")" "\"$T/st\""
printf '%s' "$out" | grep -q s3cret && fail "secret printed"

# Lookup order: --config, then $GOSTREAM_CONFIG, then config.json beside the executable.
mkdir -p "$T/bin"
cp "$GOSTREAM" "$T/bin/gostream"
echo '{"metrics_port": 1111}' > "$T/bin/config.json"
echo '{"metrics_port": 2222}' > "$T/env.json"
echo '{"metrics_port": 3333}' > "$T/cli.json"
port_of() { "$@" 2>/dev/null | "$PY" -c "import json,sys; print(json.load(sys.stdin)['metrics_port'])"; }
expect_eq "beside executable" "$(port_of "$T/bin/gostream" check-config)" 1111
expect_eq "env beats executable dir" "$(GOSTREAM_CONFIG=$T/env.json port_of "$T/bin/gostream" check-config)" 2222
expect_eq "--config beats env" \
	"$(GOSTREAM_CONFIG=$T/env.json port_of "$T/bin/gostream" check-config --config "$T/cli.json")" 3333
rm "$T/bin/config.json"
expect_eq "defaults last" "$(port_of "$T/bin/gostream" check-config)" 8096
src=$("$T/bin/gostream" check-config 2>&1 >/dev/null)
expect_match "source named" "$src" "source: defaults"
note "$checks checks"
