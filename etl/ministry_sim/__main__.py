"""``python -m etl.ministry_sim``: serve the Ministry simulator in the foreground (demo, manual checks).

Environment: ``WLHY_MINISTRY_SIM_PRIVATE_KEY_HEX`` (a key pair is drawn and its public half printed when
unset), ``WLHY_MINISTRY_USER_NAME`` / ``WLHY_MINISTRY_PASSWORD`` (the one account, default
``340000`` / ``ministry``), ``WLHY_MINISTRY_SIM_PORT`` (default 8100).  Binds 127.0.0.1 only.
"""

from __future__ import annotations

import os

import uvicorn

from etl.exchange import crypto
from etl.ministry_sim.app import create_app
from etl.ministry_sim.server import DEFAULT_PORT

__all__ = ["main"]


def main() -> None:
    """Serve until interrupted."""
    private = os.environ.get("WLHY_MINISTRY_SIM_PRIVATE_KEY_HEX", "")
    if not private:
        private, public = crypto.generate_keypair()
        print(f"Ministry public key (set WLHY_MINISTRY_PUBLIC_KEY_HEX for the forwarder): {public}")
    user = os.environ.get("WLHY_MINISTRY_USER_NAME") or "340000"
    password = os.environ.get("WLHY_MINISTRY_PASSWORD") or "ministry"
    port = int(os.environ.get("WLHY_MINISTRY_SIM_PORT", DEFAULT_PORT))
    uvicorn.run(create_app(private, accounts={user: password}), host="127.0.0.1", port=port, log_level="info")


if __name__ == "__main__":
    main()
