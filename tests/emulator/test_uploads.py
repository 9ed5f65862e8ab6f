"""Files API and GCS uploads over raw HTTP: chunks, the ``query`` command and resuming, resumable GCS sessions,
media and multipart uploads, streamed downloads, listing and deletion."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle

BEARER = {"Authorization": "Bearer token"}


@pytest.fixture
def http(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": emu.api_key}, timeout=10) as client:
        yield client


def _start(http: httpx.Client, size: int, version: str = "v1beta") -> str:
    response = http.post(
        f"/upload/{version}/files",
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": "application/octet-stream",
        },
        json={"file": {"display_name": "blob.bin"}},
    )
    assert response.status_code == 200 and response.headers["x-goog-upload-status"] == "active"
    return response.headers["x-goog-upload-url"]


def _chunk(url: str, command: str, offset: int | None = None, data: bytes = b"") -> httpx.Response:
    headers = {"X-Goog-Upload-Command": command}  # no credentials: the upload id is the credential
    if offset is not None:
        headers["X-Goog-Upload-Offset"] = str(offset)
    return httpx.post(url, content=data, headers=headers)


def test_files_upload_in_chunks_query_and_resume(http: httpx.Client, emu: EmulatorHandle) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    url = _start(http, len(data))
    assert url.startswith(f"{emu.base_url}/upload/v1beta/files?upload_id=")

    first = _chunk(url, "upload", 0, data[:1_000_000])
    assert first.status_code == 200 and first.headers["x-goog-upload-status"] == "active"
    query = _chunk(url, "query")
    assert query.headers["x-goog-upload-status"] == "active"
    assert query.headers["x-goog-upload-size-received"] == "1000000"

    # A client that lost track re-sends from a wrong offset: refused, nothing stored changes.
    wrong = _chunk(url, "upload", 2_000_000, data[2_000_000:2_100_000])
    assert wrong.status_code == 400 and wrong.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "1000000" in wrong.json()["error"]["message"]
    received = int(_chunk(url, "query").headers["x-goog-upload-size-received"])
    assert received == 1_000_000

    final = _chunk(url, "upload, finalize", received, data[received:])
    assert final.status_code == 200 and final.headers["x-goog-upload-status"] == "final"
    file = final.json()["file"]
    assert file["sizeBytes"] == str(len(data)) and file["displayName"] == "blob.bin"
    assert file["mimeType"] == "application/octet-stream" and file["source"] == "UPLOADED"
    assert base64.b64decode(file["sha256Hash"]).decode() == hashlib.sha256(data).hexdigest()
    assert _chunk(url, "query").headers["x-goog-upload-status"] == "final"
    again = _chunk(url, "upload, finalize", 0, b"")  # a lost final answer can be fetched again
    assert again.status_code == 200 and again.json()["file"]["name"] == file["name"]

    file_id = file["name"].removeprefix("files/")
    with http.stream("GET", f"/v1/files/{file_id}:download", params={"alt": "media"}) as response:
        assert response.headers["content-length"] == str(len(data))
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == data and len(chunks) > 1
    assert http.get(f"/download/v1beta/files/{file_id}:download", params={"alt": "media"}).content == data
    assert emu.stats()["requests"]["files.upload.chunk"] == 7


def test_files_upload_errors(http: httpx.Client) -> None:
    not_resumable = http.post("/upload/v1/files", headers={"X-Goog-Upload-Protocol": "multipart"})
    assert not_resumable.status_code == 400
    url = _start(http, 10)
    assert _chunk(url, "upload").status_code == 400  # no offset
    assert _chunk(url, "bogus").status_code == 400
    short = _chunk(url, "upload, finalize", 0, b"12345")
    assert short.status_code == 400 and "declared 10 bytes" in short.json()["error"]["message"]
    assert _chunk(url.replace("upload_id=", "upload_id=x"), "query").status_code == 404


def test_files_get_list_delete(http: httpx.Client) -> None:
    names = []
    for i in range(3):
        url = _start(http, 1, "v1")
        names.append(_chunk(url, "upload, finalize", 0, str(i).encode()).json()["file"]["name"])
    first = http.get("/v1/files", params={"pageSize": 2}).json()
    second = http.get("/v1/files", params={"pageSize": 2, "pageToken": first["nextPageToken"]}).json()
    assert [f["name"] for f in first["files"] + second["files"]] == list(reversed(names))
    assert "nextPageToken" not in second
    file_id = names[0].removeprefix("files/")
    got = http.get(f"/v1/files/{file_id}").json()
    assert got["sizeBytes"] == "1" and got["uri"].endswith(f"/v1/files/{file_id}") and "downloadUri" not in got
    assert http.delete(f"/v1/files/{file_id}").json() == {}
    assert http.get(f"/v1/files/{file_id}").status_code == 404


def test_gcs_resumable_upload_in_several_chunks(emu: EmulatorHandle) -> None:
    data = os.urandom(700_000)
    with httpx.Client(base_url=emu.base_url, headers=BEARER) as gcs:
        start = gcs.post(
            "/upload/storage/v1/b/bucket/o",
            params={"uploadType": "resumable", "name": "dir/big.bin"},
            json={"contentType": "application/x-test"},
        )
        assert start.status_code == 200
        session = start.headers["location"]
    assert session.startswith(f"{emu.base_url}/upload/storage/v1/b/bucket/o?")

    def put(content_range: str, body: bytes = b"") -> httpx.Response:
        return httpx.put(session, content=body, headers={"Content-Range": content_range})  # no credentials

    assert put("bytes */*").status_code == 308 and "range" not in put("bytes */*").headers
    first = put("bytes 0-262143/*", data[:262144])
    assert first.status_code == 308 and first.headers["range"] == "bytes=0-262143"
    # The client did not see the answer and re-sends an overlapping chunk: accepted, no bytes duplicated.
    overlap = put("bytes 131072-524287/*", data[131072:524288])
    assert overlap.headers["range"] == "bytes=0-524287"
    gap = put("bytes 600000-699999/700000", data[600000:])
    assert gap.status_code == 400 and gap.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert put("bytes */700000").headers["range"] == "bytes=0-524287"
    done = put(f"bytes 524288-699999/{len(data)}", data[524288:])
    assert done.status_code == 200
    resource = done.json()
    assert resource["name"] == "dir/big.bin" and resource["bucket"] == "bucket" and resource["size"] == "700000"
    assert resource["contentType"] == "application/x-test"
    assert base64.b64decode(resource["md5Hash"]) == hashlib.md5(data).digest()
    assert {"kind", "timeCreated", "updated", "generation"} <= set(resource)
    assert put("bytes */700000").json()["name"] == "dir/big.bin"
    assert emu.get_object("bucket", "dir/big.bin") == data


def test_gcs_media_multipart_get_download_list_delete(emu: EmulatorHandle) -> None:
    with httpx.Client(base_url=emu.base_url, headers=BEARER) as gcs:
        media = gcs.post(
            "/upload/storage/v1/b/bkt/o",
            params={"uploadType": "media", "name": "a/one.txt"},
            content=b"one",
            headers={"Content-Type": "text/plain"},
        )
        assert media.status_code == 200 and media.json()["contentType"] == "text/plain"
        boundary = "xyzzy"
        body = (
            (
                f'--{boundary}\r\nContent-Type: application/json\r\n\r\n{{"name": "a/b/two.bin"}}\r\n'
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + b"\x00\r\ntwo"
            + f"\r\n--{boundary}--\r\n".encode()
        )
        multipart = gcs.post(
            "/upload/storage/v1/b/bkt/o",
            params={"uploadType": "multipart"},
            content=body,
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
        )
        assert multipart.status_code == 200, multipart.text
        emu.put_object("bkt", "z.txt", b"zzz")

        meta = gcs.get("/storage/v1/b/bkt/o/a%2Fb%2Ftwo.bin").json()
        assert meta["name"] == "a/b/two.bin" and meta["size"] == "6"
        assert gcs.get("/storage/v1/b/bkt/o/a%2Fb%2Ftwo.bin", params={"alt": "media"}).content == b"\x00\r\ntwo"
        assert gcs.get(meta["mediaLink"]).content == b"\x00\r\ntwo"

        listed = gcs.get("/storage/v1/b/bkt/o", params={"maxResults": 2}).json()
        assert [i["name"] for i in listed["items"]] == ["a/b/two.bin", "a/one.txt"]
        rest = gcs.get("/storage/v1/b/bkt/o", params={"maxResults": 2, "pageToken": listed["nextPageToken"]}).json()
        assert [i["name"] for i in rest["items"]] == ["z.txt"] and "nextPageToken" not in rest
        nested = gcs.get("/storage/v1/b/bkt/o", params={"prefix": "a/", "delimiter": "/"}).json()
        assert [i["name"] for i in nested["items"]] == ["a/one.txt"] and nested["prefixes"] == ["a/b/"]

        deleted = gcs.delete("/storage/v1/b/bkt/o/a%2Fone.txt")
        assert deleted.status_code == 204 and deleted.content == b""
        missing = gcs.get("/storage/v1/b/bkt/o/a%2Fone.txt")
        assert missing.status_code == 404 and missing.json()["error"]["message"] == "No such object: bkt/a/one.txt"
        no_name = gcs.post("/upload/storage/v1/b/bkt/o", params={"uploadType": "media"}, content=b"x")
        assert no_name.status_code == 400 and no_name.json()["error"]["message"].startswith("name: required")
    assert emu.list_objects("bkt") == ["a/b/two.bin", "z.txt"]
    stats = emu.stats()["requests"]
    assert stats["gcs.objects.insert"] == 3 and stats["gcs.objects.download"] == 2 and stats["gcs.objects.list"] == 3
