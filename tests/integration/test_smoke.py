"""First end-to-end check: a raw client and stomp.py over real sockets."""


def test_raw_publish_subscribe(xtomp, raw_client):
    sub = raw_client()
    sub.connect()
    sub.subscribe("/topic/a")
    pub = raw_client()
    pub.connect("1.1")
    pub.send_frame("SEND", {"destination": "/topic/a", "receipt": "r1"}, "hi")
    pub.expect_receipt("r1")
    message = sub.expect("MESSAGE")
    assert message.body == b"hi"
    assert message.headers[b"destination"] == b"/topic/a"
    assert message.headers[b"subscription"] == b"0"


def test_stomp_py(xtomp, stomp_py):
    conn, recorder = stomp_py()
    conn.connect(wait=True)
    conn.subscribe("/topic/b", id="s")
    conn.send("/topic/b", "x", receipt="r")
    recorder.wait_messages(1)
    assert recorder.messages[0].body == "x"
