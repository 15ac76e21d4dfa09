from bot.metastudio.errors import AuthError, MetaStudioError, UnavailableError
from bot.views.errors import upstream_error_reply
from tests.views.jobs import blocks_of


def test_an_upstream_refusal_shows_status_code_message_and_request_id_with_the_hint():
    err = AuthError("refused", status=401, error_code="APIGW.0301",
                    error_msg="Incorrect IAM authentication information", request_id="req-42")
    reply = upstream_error_reply(err, doing="list failed jobs")
    line = ("⚠️ Couldn't list failed jobs: MetaStudio answered HTTP 401 · APIGW.0301 "
            "Incorrect IAM authentication information · request id req-42.")
    assert reply.text == line
    assert blocks_of(reply)[0]["text"]["text"] == line
    assert "METASTUDIO_AK / METASTUDIO_SK" in blocks_of(reply)[1]["elements"][0]["text"]
    assert reply.response_type == "ephemeral"


def test_no_answer_at_all_says_what_happened_instead():
    err = UnavailableError("MetaStudio did not answer within 10 s")
    reply = upstream_error_reply(err, doing="look up `job-1`")
    assert reply.text == "⚠️ Couldn't look up `job-1`: MetaStudio did not answer within 10 s."


def test_upstream_text_is_escaped_and_no_traceback_shows():
    err = MetaStudioError("boom", status=500, error_msg="<!channel> broke")
    reply = upstream_error_reply(err, doing="summarise")
    assert "&lt;!channel&gt; broke" in reply.text
    assert "Traceback" not in str(reply.to_payload())
