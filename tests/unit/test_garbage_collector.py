"""A service process settles its garbage collector once it is built, before it serves: what
it built is frozen out of the collector's sight and the youngest generation's threshold is
raised (shared.process.serve.settle_garbage_collector). Checked in a process of its own:
freezing the test run's objects would change every test after this one."""

import json
import textwrap

from tests.support.processes import python_output

# `serve` with what surrounds the settling replaced: no socket, a bare app, no server. The
# server's `run` reports the collector as the server would find it.
SCRIPT = textwrap.dedent(
    """
    import gc, json, sys
    import uvicorn
    from fastapi import FastAPI
    from shared.process import serve as module
    from inventory_service.config import InventorySettings

    seen = {}
    def run(self, sockets=None):
        seen["frozen"] = gc.get_freeze_count()
        seen["thresholds"] = gc.get_threshold()
    module.listen = lambda host, port: None
    uvicorn.Server.run = run
    before = {"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}
    module.serve(InventorySettings(), lambda settings: FastAPI())
    print(json.dumps({"before": before, "serving": seen}))
    """
)


def test_a_service_serves_with_what_it_built_frozen_and_a_higher_young_threshold() -> None:
    seen = json.loads(python_output(SCRIPT).strip().splitlines()[-1])

    assert seen["before"]["frozen"] == 0
    # Everything imported and built by then: the modules alone are tens of thousands.
    assert seen["serving"]["frozen"] > 10_000
    assert seen["serving"]["thresholds"][0] == 10_000
    assert seen["serving"]["thresholds"][1:] == seen["before"]["thresholds"][1:]
