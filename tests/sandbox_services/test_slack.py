"""The Slack sandbox over real HTTP, driven by unmodified slack_sdk.WebClient."""

from __future__ import annotations

import json

import pytest
import requests
from sfsync_sandbox.slack import create_app
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.sandbox_services.conftest import serve

TOKEN = "xoxb-sandbox-token"


@pytest.fixture
def slack(tmp_path, book):
    state = tmp_path / "slack.json"
    app = create_app(TOKEN, state, book.slack_users())
    with serve(app) as url:
        yield url, state, book


def client(url: str, token: str = TOKEN, **kw) -> WebClient:
    return WebClient(token=token, base_url=f"{url}/api/", **kw)


def test_auth_test_and_wrong_token(slack):
    url, _, _ = slack
    assert client(url).auth_test()["user_id"]
    with pytest.raises(SlackApiError) as info:
        client(url, token="xoxb-wrong").auth_test()
    assert info.value.response["error"] == "invalid_auth"


def test_post_message_is_recorded_and_persisted(slack, tmp_path, book):
    url, state, _ = slack
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*赤* 株式会社テスト"}}]
    first = client(url).chat_postMessage(channel="#cs-alerts", text="新しいリスク", blocks=blocks)
    assert first["ok"] and first["channel"] == "C0CSALERTS"
    reply = client(url).chat_postMessage(
        channel=first["channel"], text="詳細", thread_ts=first["ts"]
    )
    assert float(reply["ts"]) > float(first["ts"])
    recorded = requests.get(f"{url}/_sandbox/messages").json()
    assert [(m["channel_name"], m["text"], m["thread_ts"]) for m in recorded] == [
        ("cs-alerts", "新しいリスク", None),
        ("cs-alerts", "詳細", first["ts"]),
    ]
    assert recorded[0]["blocks"] == blocks
    # a new app over the same state file still has the messages
    again = create_app(TOKEN, state, book.slack_users())
    assert [m["ts"] for m in again.messages] == [first["ts"], reply["ts"]]
    lines = state.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["新しいリスク", "詳細"]
    requests.delete(f"{url}/_sandbox/messages")
    assert requests.get(f"{url}/_sandbox/messages").json() == []
    assert create_app(TOKEN, state, []).messages == []


@pytest.mark.parametrize(
    ("channel", "error"), [("#general", "not_in_channel"), ("#nowhere", "channel_not_found")]
)
def test_post_to_bad_channel(slack, channel, error):
    url, _, _ = slack
    with pytest.raises(SlackApiError) as info:
        client(url).chat_postMessage(channel=channel, text="x")
    assert info.value.response["error"] == error


def test_post_without_text_or_blocks(slack):
    url, _, _ = slack
    with pytest.raises(SlackApiError) as info, pytest.warns(UserWarning, match="text"):
        client(url).chat_postMessage(channel="#cs-alerts", blocks=[])
    assert info.value.response["error"] == "no_text"


def test_lookup_every_owner_by_email(slack):
    url, _, book = slack
    c = client(url)
    active = book.users[book.users["IsActive"]]
    for name, email in zip(active["Name"], active["Email"], strict=True):
        user = c.users_lookupByEmail(email=email.upper())["user"]
        assert user["name"] == name and user["profile"]["email"] == email
    with pytest.raises(SlackApiError) as info:
        c.users_lookupByEmail(email="nobody@nexpro.example")
    assert info.value.response["error"] == "users_not_found"


def test_direct_message_to_a_user(slack):
    url, _, _ = slack
    c = client(url)
    user_id = c.users_lookupByEmail(email="tsuda@nexpro.example")["user"]["id"]
    assert c.chat_postMessage(channel=user_id, text="DM")["channel"].startswith("D")
    assert c.users_info(user=user_id)["user"]["name"] == "津田"
    with pytest.raises(SlackApiError) as info:
        c.api_call("users.setPresence", params={"presence": "away"})
    assert info.value.response["error"] == "unknown_method"


def test_conversations_membership(slack):
    url, _, _ = slack
    c = client(url)
    channels, pages = {}, 0
    for page in c.conversations_list(limit=2):  # slack_sdk follows next_cursor
        pages += 1
        channels.update({ch["name"]: ch for ch in page["channels"]})
    assert pages == 2
    assert channels["cs-alerts"]["is_member"] and channels["cs-managers"]["is_member"]
    assert not channels["general"]["is_member"]
    assert c.conversations_info(channel="C0CSMANAGERS")["channel"]["name"] == "cs-managers"
    with pytest.raises(SlackApiError):
        c.conversations_info(channel="C0MISSING")
    assert c.conversations_join(channel="C0GENERAL")["channel"]["is_member"]
    assert c.chat_postMessage(channel="#general", text="joined")["ok"]
    requests.put(
        f"{url}/_sandbox/channels", json=[{"id": "C1", "name": "cs-alerts", "is_member": False}]
    )
    with pytest.raises(SlackApiError) as info:
        c.chat_postMessage(channel="#cs-alerts", text="x")
    assert info.value.response["error"] == "not_in_channel"


def test_rate_limit_then_retry_handler_succeeds(slack):
    url, _, _ = slack
    requests.put(f"{url}/_sandbox/faults", json={"rate_limited": 1, "retry_after": 0})
    with pytest.raises(SlackApiError) as info:
        client(url).chat_postMessage(channel="#cs-alerts", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] in ("0", ["0"])
    requests.put(f"{url}/_sandbox/faults", json={"rate_limited": 2, "retry_after": 0})
    patient = client(url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)])
    assert patient.chat_postMessage(channel="#cs-alerts", text="after 429s")["ok"]
    counters = requests.get(f"{url}/_sandbox/counters").json()
    assert counters["chat.postMessage"] == 4 and counters["faults_ratelimited"] == 3
    assert [m["text"] for m in requests.get(f"{url}/_sandbox/messages").json()] == ["after 429s"]


def test_outage_503_until_cleared(slack):
    url, _, _ = slack
    requests.put(f"{url}/_sandbox/faults", json={"outage": "503"})
    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            client(url).auth_test()
        assert info.value.response.status_code == 503
    requests.delete(f"{url}/_sandbox/faults")
    assert client(url).auth_test()["ok"]


def test_outage_dropped_connection(slack):
    url, _, _ = slack
    requests.put(f"{url}/_sandbox/faults", json={"outage": "drop"})
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/api/auth.test", headers={"Authorization": f"Bearer {TOKEN}"})
    requests.delete(f"{url}/_sandbox/faults")
    assert client(url).auth_test()["ok"]


def test_torn_last_line_is_ignored_but_corruption_is_reported(tmp_path):
    state = tmp_path / "slack.json"
    good = json.dumps({"ts": "1.000001", "channel": "C0CSALERTS", "text": "a"})
    state.write_text(good + "\n" + '{"ts": "2.0', encoding="utf-8")
    app = create_app(TOKEN, state, [])
    assert [m["text"] for m in app.messages] == ["a"]
    app._append({"ts": "3.000001", "channel": "C0CSALERTS", "text": "b"})
    assert [m["text"] for m in create_app(TOKEN, state, []).messages] == ["a", "b"]
    state.write_text("garbage\n" + good + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        create_app(TOKEN, state, [])


def test_users_without_email_or_name_are_tolerated(tmp_path):
    users = [
        {"id": "005A", "name": None, "email": None},
        {"id": "005B", "name": "x", "email": "x@y"},
    ]
    app = create_app(TOKEN, tmp_path / "s.json", users)
    with serve(app) as url:
        assert client(url).users_lookupByEmail(email="X@Y")["user"]["id"] == "005B"
        with pytest.raises(SlackApiError):
            client(url).users_lookupByEmail(email="None")


def test_history_newest_first_with_oldest_latest_and_cursor(slack):
    url, _, _ = slack
    c = client(url)
    ts = [c.chat_postMessage(channel="#cs-alerts", text=f"m{i}")["ts"] for i in range(5)]
    c.chat_postMessage(channel="#cs-managers", text="elsewhere")
    c.chat_postMessage(channel="#cs-alerts", text="reply", thread_ts=ts[0])  # not a parent
    page = c.conversations_history(channel="C0CSALERTS", oldest=ts[1], limit=2)
    assert [m["text"] for m in page["messages"]] == ["m4", "m3"]  # newest first, oldest excl.
    assert page["has_more"] and page["response_metadata"]["next_cursor"]
    rest = c.conversations_history(
        channel="C0CSALERTS", oldest=ts[1], limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["m2"] and not rest["has_more"]
    both = c.conversations_history(channel="C0CSALERTS", oldest=ts[1], latest=ts[3], inclusive=1)
    assert [m["text"] for m in both["messages"]] == ["m3", "m2", "m1"]
    every = [m["text"] for page in c.conversations_history(channel="C0CSALERTS", limit=2)
             for m in page["messages"]]  # fmt: skip
    assert every == ["m4", "m3", "m2", "m1", "m0"]  # slack_sdk follows the cursor
    for args, error in (
        ({"channel": "C0MISSING"}, "channel_not_found"),
        ({"channel": "C0GENERAL"}, "not_in_channel"),
        ({"channel": "C0CSALERTS", "cursor": "bogus"}, "invalid_cursor"),
        ({"channel": "C0CSALERTS", "oldest": "yesterday"}, "invalid_ts_oldest"),
    ):
        with pytest.raises(SlackApiError) as info:
            c.conversations_history(**args)
        assert info.value.response["error"] == error


def test_message_metadata_is_kept_and_returned_on_request(slack):
    url, state, book = slack
    c = client(url)
    metadata = {"event_type": "sfsync_message", "event_payload": {"dedupe_key": "digest:1"}}
    posted = c.chat_postMessage(channel="#cs-alerts", text="with metadata", metadata=metadata)
    assert posted["message"]["metadata"] == metadata
    plain = c.conversations_history(channel="C0CSALERTS")["messages"][0]
    assert "metadata" not in plain
    full = c.conversations_history(channel="C0CSALERTS", include_all_metadata=True)
    assert full["messages"][0]["metadata"] == metadata
    # kept across restarts of the sandbox
    assert create_app(TOKEN, state, book.slack_users()).messages[0]["metadata"] == metadata
    bad_type = c.chat_postMessage(
        channel="#cs-alerts", text="x", metadata={"event_type": "a.b", "event_payload": {}}
    )
    assert bad_type["ok"] and bad_type["warning"] == "invalid_metadata_schema"
    assert "metadata" not in bad_type["message"]
    with pytest.raises(SlackApiError) as info:
        c.api_call("chat.postMessage", json={"channel": "#cs-alerts", "text": "x",
                                             "metadata": "{not json"})  # fmt: skip
    assert info.value.response["error"] == "invalid_metadata_format"


def test_scopes_header_and_missing_scope(slack):
    url, _, _ = slack
    c = client(url)
    scopes = c.auth_test().headers["x-oauth-scopes"]
    scopes = scopes if isinstance(scopes, str) else ",".join(scopes)
    assert "chat:write" in scopes.split(",") and "channels:history" in scopes.split(",")
    requests.put(f"{url}/_sandbox/scopes", json=["chat:write", "channels:read"])
    with pytest.raises(SlackApiError) as info:
        c.conversations_history(channel="C0CSALERTS")
    response = info.value.response
    assert response["error"] == "missing_scope" and response["needed"] == "channels:history"
    assert response["provided"] == "chat:write,channels:read"
    assert c.chat_postMessage(channel="#cs-alerts", text="still allowed")["ok"]


@pytest.mark.parametrize(
    "code", ["invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"]
)
def test_auth_error_fault(slack, code):
    url, _, _ = slack
    requests.put(f"{url}/_sandbox/faults", json={"auth_error": code})
    with pytest.raises(SlackApiError) as info:
        client(url).chat_postMessage(channel="#cs-alerts", text="x")
    assert info.value.response.status_code == 200 and info.value.response["error"] == code
    assert requests.get(f"{url}/_sandbox/messages").json() == []
    bad = requests.put(f"{url}/_sandbox/faults", json={"auth_error": "nope"})
    assert bad.status_code == 400
    requests.delete(f"{url}/_sandbox/faults")
    assert client(url).auth_test()["ok"]
