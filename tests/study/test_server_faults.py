"""The study's server on localhost under load, killed mid-study, and sent hostile requests."""

import random
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from colorbench.study import storage
from tests.helpers import refused
from tests.study.conftest import Server

TRIALS = 30  # 10 practice + 18 test + 2 vigilance


def _rows(study) -> dict:
    with sqlite3.connect(study / "votes.sqlite") as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in ("participants", "trials", "votes", "meta")}


def _answer(token: str, n: int) -> str:
    return random.Random(f"{token}/{n}").choice(["first", "second"])  # the same on a retry


class Participant:
    """A scripted participant: votes what `_answer` says, retries when the server cannot be reached."""

    def __init__(self, url: str):
        self.client = httpx.Client(base_url=url, timeout=10)
        session = self.client.post("/api/session", json={})
        session.raise_for_status()
        self.token, self.trial = session.json()["token"], session.json()["trial"]
        self.acknowledged: list[tuple[int, str]] = []

    def vote(self) -> bool:
        """One vote (False when all are in); raises httpx.TransportError when the server is gone."""
        if self.trial is None:
            return False
        answer = _answer(self.token, self.trial["n"])
        reply = self.client.post("/api/vote", json={"n": self.trial["n"], "answer": answer, "response_ms": 300},
                                 headers={"Authorization": f"Bearer {self.token}"})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        if body["recorded"]:
            self.acknowledged.append((self.trial["n"], answer))
        self.trial = body["trial"]
        return True


def _stored_votes(study) -> dict:
    """{token's sha256: [(n, answer), ...]} of the votes in the database."""
    with sqlite3.connect(study / "votes.sqlite") as conn:
        rows = conn.execute("SELECT p.token_sha256, v.n, v.answer FROM votes v JOIN participants p ON p.id = v.participant ORDER BY 1, 2").fetchall()
    found: dict = {}
    for digest, n, answer in rows:
        found.setdefault(digest, []).append((n, answer))
    return found


def test_fifty_participants_voting_at_once_lose_no_vote(server):
    start = time.monotonic()
    barrier = threading.Barrier(50)

    def take_part(_):
        barrier.wait(timeout=30)  # all start together
        me = Participant(server.url)
        assert "alpha" not in str(me.trial) and "beta" not in str(me.trial)  # the page never learns whose image it shows
        while me.vote():
            pass
        return me

    with ThreadPoolExecutor(50) as pool:
        people = list(pool.map(take_part, range(50)))
    stored = _stored_votes(server.study)
    assert len(stored) == 50
    for me in people:
        assert len(me.acknowledged) == TRIALS
        assert stored[storage.token_hash(me.token)] == me.acknowledged
    assert time.monotonic() - start < 90


def test_kill_9_mid_study_loses_no_acknowledged_vote_and_serves_again(study):
    server = Server(study).start()
    try:
        people = [Participant(server.url) for _ in range(8)]
        stop = threading.Event()

        def keep_voting(me):
            while not stop.is_set():
                try:
                    if not me.vote():
                        return
                except httpx.TransportError:  # the server was killed under this request
                    return

        threads = [threading.Thread(target=keep_voting, args=(me,)) for me in people]
        for t in threads:
            t.start()
        while sum(len(me.acknowledged) for me in people) < 60:
            time.sleep(0.01)
        server.kill()  # mid-study, requests in flight
        stop.set()
        for t in threads:
            t.join(timeout=20)
        stored = _stored_votes(study)
        for me in people:
            mine = stored.get(storage.token_hash(me.token), [])
            assert set(me.acknowledged) <= set(mine)  # every acknowledged vote survived
            assert all(vote == (vote[0], _answer(me.token, vote[0])) for vote in mine)  # and nothing else was made up
        assert sum(len(me.acknowledged) for me in people) < 8 * TRIALS  # it was killed mid-study

        server.start()  # serves again; each participant goes on where the server is (a lost reply's vote: a repeat, counted once)
        for me in people:
            me.client = httpx.Client(base_url=server.url, timeout=10)
            following = me.client.get("/api/next", headers={"Authorization": f"Bearer {me.token}"})
            assert following.status_code == 200
            me.trial = following.json()["trial"]
            while me.vote():
                pass
        stored = _stored_votes(study)
        for me in people:
            assert stored[storage.token_hash(me.token)] == [(n, _answer(me.token, n)) for n in range(TRIALS)]
    finally:
        server.stop()


def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client tidies a path), return the status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _get(port: int, path: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    return _raw(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())


def test_malformed_and_hostile_requests_get_a_clean_4xx_and_change_nothing(server):
    me = Participant(server.url)
    me.vote()
    image = me.trial["first"].split("/")[1]
    files = {p.name: p.read_bytes() for p in (server.study / "images").iterdir()} | {"study.json": (server.study / "study.json").read_bytes()}
    before = _rows(server.study)
    auth = {"Authorization": f"Bearer {me.token}"}
    post = lambda body, headers=auth, **kw: me.client.post("/api/vote", json=body, headers=headers, **kw)  # noqa: E731
    answers = {
        "no token": (post({"n": 1, "answer": "first"}, headers={}), 401),
        "a token of nobody": (post({"n": 1, "answer": "first"}, headers={"Authorization": "Bearer " + "x" * 43}), 403),
        "a token too long": (post({"n": 1, "answer": "first"}, headers={"Authorization": "Bearer " + "x" * 5000}), 401),
        "an unknown trial": (post({"n": 999, "answer": "first"}), 404),
        "a trial not yet shown": (post({"n": 5, "answer": "first"}), 409),
        "another answer to a trial answered": (post({"n": 0, "answer": "second" if me.acknowledged[0][1] == "first" else "first"}), 409),
        "an answer that is neither": (post({"n": 1, "answer": "<script>alert(1)</script>"}), 400),
        "n as text": (post({"n": "1", "answer": "first"}), 400),
        "n as true": (post({"n": True, "answer": "first"}), 400),
        "a negative n": (post({"n": -1, "answer": "first"}), 400),
        "a huge n": (post({"n": 10**30, "answer": "first"}), 400),
        "a bad response time": (post({"n": 1, "answer": "first", "response_ms": 1e308}), 400),
        "not JSON": (me.client.post("/api/vote", content=b"{n: 1", headers=auth | {"Content-Type": "application/json"}), 400),
        "a JSON list": (me.client.post("/api/vote", content=b"[1, 2]", headers=auth | {"Content-Type": "application/json"}), 400),
        "JSON nested too deep": (me.client.post("/api/vote", content=b"[" * 2000 + b"]" * 2000, headers=auth | {"Content-Type": "application/json"}), 400),
        "a form instead of JSON": (me.client.post("/api/vote", data={"n": "1", "answer": "first"}, headers=auth), 415),
        "a huge body": (me.client.post("/api/vote", content=b"{" + b" " * 5_000_000 + b"}", headers=auth | {"Content-Type": "application/json"}), 413),
        "a huge body, no length given": (me.client.post("/api/vote", content=iter([b" " * 65536] * 80), headers=auth | {"Content-Type": "application/json"}), 413),
        "a session as a form": (me.client.post("/api/session", data={"a": "b"}), 415),
        "a session with a huge body": (me.client.post("/api/session", content=b" " * 100_000, headers={"Content-Type": "application/json"}), 413),
        "a vote by GET": (me.client.get("/api/vote"), 405),
        "DELETE": (me.client.delete("/api/vote"), 405),
        "an unknown image id": (me.client.get("/images/" + "0" * 20), 404),
        "an image id with a suffix": (me.client.get(f"/images/{image}.png"), 404),
        "an image id in capitals": (me.client.get(f"/images/{image.upper()}"), 404),
    }
    for what, (reply, status) in answers.items():
        assert reply.status_code == status, (what, reply.status_code, reply.text)
        assert reply.json()["error"], what  # a clean error, as JSON
    for path in ("/images/../study.json", "/images/..%2Fstudy.json", "/images/%2e%2e%2fvotes.sqlite", "/images/%2e%2e/%2e%2e/etc/passwd",
                 "/../study.json", "/study.json", "/votes.sqlite", "/page/index.html", "/images/", "/images/" + "a" * 5000, "/app.js/../study.json"):
        status, body = _get(server.port, path)
        assert status in (400, 404), (path, status)
        assert b"colorbench-study" not in body and b"SQLite" not in body, path
    assert _get(server.port, "/", host="attacker.example")[0] == 400  # DNS rebinding: another Host is refused
    assert _get(server.port, f"/images/{image}")[0] == 200  # the real thing still works
    assert _rows(server.study) == before
    assert files == {p.name: p.read_bytes() for p in (server.study / "images").iterdir()} | {"study.json": (server.study / "study.json").read_bytes()}


def test_a_method_name_with_markup_is_refused(cli, tmp_path):
    from tests.study.conftest import make_folders
    from tests.helpers import refused

    data = make_folders(tmp_path / "data", photos=3)
    refused(cli("study", "create", "--out", tmp_path / "s", "--real", data / "real", "--method", f"<script>alert(1)</script>={data / 'alpha'}"), 2, "--method")
    assert not (tmp_path / "s").exists()


def test_a_hand_edited_study_with_markup_in_a_method_name_is_refused(cli, study):
    from tests.helpers import refused

    manifest = study / "study.json"
    manifest.write_text(manifest.read_text().replace('"alpha"', '"<script>alpha</script>"'))
    refused(cli("study", "serve", study), 1, "not a valid study", "methods.0.name")
    refused(cli("study", "results", study), 1, "not a valid study")
    assert not (study / "votes.sqlite").exists()


def test_a_port_in_use_is_one_line(cli, study):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        refused(cli("study", "serve", study, "--port", taken.getsockname()[1]), 1, "cannot listen", "--port")


def test_serving_beyond_localhost_warns(study):
    server = Server(study)
    server.start_args = ["--host", "0.0.0.0"]
    server.start()
    try:
        assert httpx.get(server.url + "/api/study").status_code == 200
    finally:
        server.stop()
    assert "anyone who can reach this machine" in server.process.stderr.read()
