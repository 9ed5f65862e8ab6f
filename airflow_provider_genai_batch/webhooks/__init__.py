"""Gemini API webhooks: verify deliveries, record "job X may have ended", wake the trigger waiting for job X.

Modules: ``signing`` (Standard Webhooks HMAC, pure), ``jws`` (RS256 JWTs against a JWK set, pure), ``jwks`` (the
key set fetched and cached with rotation, async), ``events`` (a delivery's body to a job name, pure), ``nudges``
(the shared record in Airflow's metadata DB), ``wakeup`` (the trigger's "sleep until timeout or nudged"),
``receiver`` (the api-server app) and ``plugin`` (its registration). See docs/WEBHOOKS.md.
"""
