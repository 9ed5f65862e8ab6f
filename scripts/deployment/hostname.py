"""Airflow's ``[core] hostname_callable`` for the harness's triggerers: the machine's name plus the process name.

Several triggerers on one machine otherwise share a hostname, and their ``job`` rows could not be told apart.

Example: ``AIRFLOW__CORE__HOSTNAME_CALLABLE=scripts.deployment.hostname.component_hostname`` with
``LOCAL_AIRFLOW_COMPONENT=triggerer-2`` gives ``myhost--triggerer-2``.
"""

from __future__ import annotations

import os
import socket

COMPONENT_ENV = "LOCAL_AIRFLOW_COMPONENT"
HOSTNAME_CALLABLE = "scripts.deployment.hostname.component_hostname"


def component_hostname() -> str:
    """``<fqdn>--<component>`` (the fqdn alone outside the harness)."""
    name = os.environ.get(COMPONENT_ENV)
    base = socket.getfqdn()
    return f"{base}--{name}" if name else base
