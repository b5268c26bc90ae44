"""Each service's API documents (/docs, /redoc) work without internet: every asset they load
is served by the service itself."""

from __future__ import annotations

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
