"""Finding: onboarding documents and logos were accepted by the Content-Type the browser sent: an HTML
file with a script, named logo.png and sent as image/png, was stored as a logo and served from our
origin (public: the hosted checkout shows it).

Uploads are typed by their content (magic bytes): documents are PDF, PNG or JPEG, logos PNG, JPEG or
WebP; anything else is a form error on the field, whatever the name or type claims, and nothing is
stored. SVG logos are refused (they can carry script; no sanitiser is kept). What is accepted is stored
and served as the type its content is.
"""

from __future__ import annotations

from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bnpl.core.models import Event
from merchants.models import Branding, MerchantDocument
from tests.helpers import row_counts, verified_client
from tests.merchants.factories import Tenant, make_member, make_merchant

HTML = b"<!doctype html><html><body><script>fetch('/merchant/').then(r => r.text())</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"><script>alert(1)</script></svg>'
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
BRANDING = {"display_name": "Acme", "primary_colour": "#aa3300", "accent_colour": "#112233"}


def _owner_client(tenant: Tenant) -> Client:
    client = Client()
    verified_client(make_member(merchant=tenant.merchant), client=client)
    return client


def _logo(name: str, content: bytes, content_type: str) -> dict[str, object]:
    return {**BRANDING, "logo": SimpleUploadedFile(name, content, content_type=content_type)}


def test_an_html_file_named_logo_png_is_refused(tenant: Tenant) -> None:
    client = _owner_client(tenant)
    before = row_counts()

    response = client.post("/merchant/settings/branding", _logo("logo.png", HTML, "image/png"))

    assert response.status_code == 400
    form = response.context["branding_form"]
    assert form.errors["logo"] == [
        "A logo is a PNG, JPEG or WebP image: this file's content is none of them, whatever its name says."
    ]
    assert row_counts() == before
    assert not Branding.objects.filter(merchant=tenant.merchant).exclude(logo="").exists()
    assert Client().get(f"/merchant/branding/{tenant.merchant.public_id}/logo").status_code == 404


def test_svg_logos_are_refused_whatever_they_are_called(tenant: Tenant) -> None:
    client = _owner_client(tenant)
    for name, content_type in (("logo.svg", "image/svg+xml"), ("logo.png", "image/png"), ("logo.webp", "image/webp")):
        response = client.post("/merchant/settings/branding", _logo(name, SVG, content_type))
        assert response.status_code == 400, name
        assert "logo" in response.context["branding_form"].errors
    assert not Event.objects.filter(type="branding.updated").exists()


def test_a_real_image_is_stored_and_served_as_what_its_content_is(tenant: Tenant) -> None:
    client = _owner_client(tenant)

    response = client.post("/merchant/settings/branding", _logo("logo.png", JPEG, "application/octet-stream"))

    assert response.status_code == 302
    branding = Branding.objects.get(merchant=tenant.merchant)
    assert branding.logo.name.endswith(f"{tenant.merchant.public_id}-logo.jpg")
    served = Client().get(f"/merchant/branding/{tenant.merchant.public_id}/logo")
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == JPEG  # type: ignore[attr-defined]


def test_a_document_is_checked_by_its_content(db: None) -> None:
    merchant = make_merchant(approved=False)
    client = Client()
    verified_client(make_member(merchant=merchant), client=client)
    storage = storages["merchant_files"]

    for name, content, content_type in (
        ("statement.pdf", HTML, "application/pdf"),
        ("passport.png", SVG, "image/png"),
        ("id.jpg", b"GIF89a" + b"\x00" * 32, "image/jpeg"),
    ):
        before = row_counts()
        refused = client.post(
            "/merchant/onboarding/documents",
            {"kind": "other", "file": SimpleUploadedFile(name, content, content_type=content_type)},
        )
        assert refused.status_code == 400, name
        assert refused.context["document_form"].errors["file"][0].startswith("Upload a PDF, PNG or JPEG file")
        assert row_counts() == before, name

    for name, content, declared, stored in (
        ("registration.txt", PDF, "text/plain", "application/pdf"),
        ("scan.pdf", PNG, "application/pdf", "image/png"),
    ):
        accepted = client.post(
            "/merchant/onboarding/documents",
            {"kind": "registration", "file": SimpleUploadedFile(name, content, content_type=declared)},
        )
        assert accepted.status_code == 302, name
        document = MerchantDocument.objects.filter(merchant=merchant).latest("created_at")
        assert document.content_type == stored
        assert storage.open(document.file.name).read() == content  # saved whole after the sniff
        download = client.get(f"/merchant/onboarding/documents/{document.public_id}")
        assert download["Content-Type"] == stored
        assert download["Content-Disposition"].startswith("attachment")
