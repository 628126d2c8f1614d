"""How `serve` holds its socket and its connections (issue 28, items 17, 18, 24 and 26): the port
is taken before the model loads, a request's headers have a deadline, a reader that stops
reading is dropped, and stopping with a request in flight answers 503 and exits at once."""

from __future__ import annotations

import pytest

from attninspect.errors import AttnInspectError
from attninspect.server.runner import bind


def test_a_second_server_on_the_port_fails_at_once_while_the_first_loads() -> None:
    first = bind("127.0.0.1", 0)  # what `serve` holds while its model loads
    try:
        port = first.getsockname()[1]
        with pytest.raises(AttnInspectError) as caught:
            bind("127.0.0.1", port).close()
        assert str(caught.value) == (
            f"cannot listen on 127.0.0.1:{port}: port {port} is in use; choose another --port"
        )
    finally:
        first.close()
