"""A platform process logs its own lines, not one line per HTTP request its client sends."""

import subprocess
import sys
from http.server import ThreadingHTTPServer

from tests.support.http_stubs import JsonHandler, serving

PROCESS = """
import logging, sys
import httpx
from ml_pipeline.process_logging import configure_logging
configure_logging()
httpx.get(sys.argv[1]).raise_for_status()
logging.getLogger("ml_platform.supervisor").info("asked the dag-processor to parse x.py now")
httpx.get(sys.argv[1] + "/missing")  # a 404: httpx itself logs no warning for it either
logging.getLogger("httpx").warning("a warning of the client still shows")
"""


class Ok(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.answer_json(200 if self.path == "/" else 404, {})


def test_requests_are_not_logged_but_the_processs_lines_and_the_clients_warnings_are():
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Ok)) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        done = subprocess.run([sys.executable, "-c", PROCESS, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO asked the dag-processor to parse x.py now", "WARNING a warning of the client still shows"], lines
