#!/usr/bin/env bash
# Prints the switchyard configuration that bench.sh, bench-profile.sh and
# build-pgo.sh run, so that they measure, profile and train the same thing.
#
#   scripts/bench-config.sh UPSTREAM_ADDR AUDIT_PATH [AUDIT_KEYS] > switchyard.toml
#
# AUDIT_KEYS: more lines for the [audit] table (bench.sh's metadata-only row
# passes "max_body_bytes = 0").
set -euo pipefail
UP="$1"
AUDIT="$2"
AUDIT_KEYS="${3:-}"
cat <<EOF
listen = "127.0.0.1:0"

[intercept]
hosts = ["*.bench.test"]

# Pass-through for both doors: Chat Completions to an openai provider that
# also serves every intercepted *.bench.test host.
[providers.openai]
kind = "openai"
base_url = "http://$UP/v1"
hosts = ["*.bench.test"]

[providers.anthropic]
kind = "anthropic"
base_url = "http://$UP"

# Conversion: Messages requests for claude-* go to a Chat-only provider.
[providers.chatonly]
kind = "openai_chat"
base_url = "http://$UP/v1"

[[routes]]
protocol = "anthropic_messages"
model = "claude-*"
provider = "chatonly"

# The other directions, which build-pgo.sh trains: Chat requests for
# claude-* converted to Messages, and Responses requests converted to Chat
# (the bench upstream answers Chat and Messages only).
[[routes]]
protocol = "openai_chat_completions"
model = "claude-*"
provider = "anthropic"

[[routes]]
protocol = "openai_responses"
model = "*"
provider = "chatonly"

[audit]
path = "$AUDIT"
$AUDIT_KEYS
EOF
