"""Apache Airflow provider for Google Gen AI batch jobs (Gemini Developer API and Vertex AI).

Importing this package is cheap: it imports neither Airflow, google-auth nor httpx.
"""

__version__ = "0.1.0"
