"""Local emulator of the Gemini Developer API batches, Vertex AI batch prediction, Files API and GCS."""
