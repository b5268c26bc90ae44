"""Each service's API documents (/docs, /redoc) work without internet: every asset they load
is served by the service itself."""

from __future__ import annotations

import json
import re

import httpx

from deploy.stack import ServiceProcess


def test_swagger_ui_and_redoc_load_nothing_from_elsewhere(
    services: dict[str, ServiceProcess],
) -> None:
    for name, proc in services.items():
        for page in ("/docs", "/redoc"):
            html = httpx.get(f"{proc.url}{page}", timeout=30)
            assert html.status_code == 200, (name, page)
            assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
            assert assets, (name, page)
            for asset in assets:
                assert asset.startswith("/"), f"{name}{page} loads {asset} from elsewhere"
                served = httpx.get(f"{proc.url}{asset}", timeout=30)
                assert served.status_code == 200, (name, asset)
                assert len(served.content) > 1000, (name, asset)
            assert "fonts.googleapis" not in html.text
        spec = httpx.get(f"{proc.url}/openapi.json", timeout=30)
        assert spec.status_code == 200, name
        assert spec.json()["paths"], name


def test_each_service_serves_the_asyncapi_document_next_to_docs(
    services: dict[str, ServiceProcess],
) -> None:
    from shared.contracts.export import SCHEMAS

    committed = json.loads((SCHEMAS / "asyncapi.json").read_text())
    for name in ("identity", "card", "activation", "notification"):
        answer = httpx.get(f"{services[name].url}/asyncapi.json", timeout=30)
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == "application/json", name
        assert answer.json() == committed, name
        # Anyone who may read /docs may read it: no credential asked.
        assert "/asyncapi.json" in httpx.get(f"{services[name].url}/openapi.json").text
