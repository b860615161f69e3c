"""Images with alt text: found and checked against each platform's documented limits before
anything is sent, uploaded the platform's way over real HTTP (X's v2 media upload and media
metadata, Graph's unpublished photos, Mastodon's media, Bluesky's blobs) through the real
libraries, and never the cause of a double post: an upload that worked for a post that did
not is used again or harmlessly repeated. The fakes accept duplicates where it matters, so
only metpost prevents a second post. The image files are made by the tests."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from metpost.errors import MetpostError
from metpost.media import image_type, pair_images
from tests.fake_platforms.images import jpeg_bytes, png_bytes
from tests.fake_platforms.server import Fault
from tests.social import bluesky_service, ledger_for, mastodon_service
from tests.terminal import fleet_args, on_terminal
from tests.test_threads import nothing_recorded, on_part

ALT = "Map of the roads closed around Mare Street"
TEXT = "{{ borough }}: roads around Mare Street are closed."
UPLOAD, METADATA, TWEETS = "/2/media/upload", "/2/media/metadata", "/2/tweets"


@pytest.fixture
def mastodon(tmp_path, request):
    with mastodon_service(tmp_path, ledger_for(request, tmp_path)) as service:
        yield service


@pytest.fixture
def bluesky(tmp_path, request):
    with bluesky_service(tmp_path, ledger_for(request, tmp_path)) as service:
        yield service


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "map.png"
    path.write_bytes(png_bytes(4, 3))
    return path


def image_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def send(fleet, *more: str, account: str | None = None, text: str = TEXT):
    chosen = ["--account", account] if account else ["--all"]
    return fleet.run(["send", *chosen, "-m", text, "--yes", "--json", *more])


def requests_to(fake, path: str) -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path == path]


# -- what a file is ------------------------------------------------------------------------------

@pytest.mark.parametrize("head, mime_type", [
    (png_bytes(), "image/png"), (jpeg_bytes(), "image/jpeg"), (b"GIF89a\x01\x00", "image/gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"), (b"BM\x1e\x00\x00\x00", "image/bmp"),
    (b"II*\x00\x08\x00", "image/tiff"), (b"\x00\x00\x00\x18ftypheic", "image/heic"),
    (b"\x00\x00\x00\x18ftypavif", "image/avif"), (b"%PDF-1.7", None), (b"", None),
])
def test_an_image_is_known_by_its_bytes(head, mime_type):
    assert image_type(head) == mime_type


def test_alt_texts_pair_with_images_in_order():
    specs = pair_images(["a.png", "b.png"], ["first", "second"], no_alt=False)
    assert [(s.path, s.alt) for s in specs] == [("a.png", "first"), ("b.png", "second")]
    with pytest.raises(MetpostError, match=r"--image b.png has no --alt"):
        pair_images(["a.png", "b.png"], ["first"], no_alt=False)
    with pytest.raises(MetpostError, match=r"--alt is given 2 times for 1 --image"):
        pair_images(["a.png"], ["one", "two"], no_alt=False)
    assert [s.alt for s in pair_images(["a.png", "b.png"], ["first"], no_alt=True)] == [
        "first", None]


# -- refused before anything is sent -------------------------------------------------------------

def assert_refused(fleet, outcome, problem: str) -> None:
    assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
    assert problem in outcome.stdout + outcome.stderr
    assert fleet.x.request_count == fleet.graph.request_count == 0
    assert nothing_recorded(fleet)


def test_an_image_without_alt_text_is_refused(fleet, png):
    outcome = send(fleet, "--image", str(png))
    assert_refused(fleet, outcome, f"--image {png} has no --alt: describe each image for "
                                   "people who cannot see it")


def test_a_blank_alt_text_is_no_alt_text(fleet, png):
    outcome = send(fleet, "--image", str(png), "--alt", "   ")
    assert_refused(fleet, outcome, f"--image {png} has no alt text: give it an --alt")


def test_no_alt_sends_the_image_without(fleet, png):
    outcome = send(fleet, "--image", str(png), "--no-alt", account="hackney-x")
    assert outcome.exit_code == 0, outcome.stdout
    [post] = fleet.x.live_posts("MPSHackney")
    [media] = fleet.x.post_media(post)
    assert media.alt_text is None and requests_to(fleet.x, METADATA) == []


def _with_thumbnail(jpeg: bytes) -> bytes:
    """``jpeg`` with an APP1 (EXIF) segment just after its start holding a whole small JPEG."""
    thumbnail = b"Exif\x00\x00" + jpeg_bytes(b"thumbnail")
    return jpeg[:2] + b"\xff\xe1" + (len(thumbnail) + 2).to_bytes(2, "big") + thumbnail + jpeg[2:]


def _bmp_bytes() -> bytes:
    """A 1x1 24-bit BMP: file header (with the file's size), info header, one padded row."""
    info = (40).to_bytes(4, "little") + (1).to_bytes(4, "little") * 2 + b"\x01\x00\x18\x00"
    info += b"\x00" * 24
    pixels = b"\x80\x80\x80\x00"
    size = 14 + len(info) + len(pixels)
    return b"BM" + size.to_bytes(4, "little") + b"\x00" * 4 + (54).to_bytes(4, "little") + (
        info + pixels)


def _heif_bytes() -> bytes:
    """The top-level boxes of a HEIF file: its file type, then a metadata box."""
    def box(kind: bytes, body: bytes) -> bytes:
        return (len(body) + 8).to_bytes(4, "big") + kind + body

    return box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic") + box(b"meta", b"\x00" * 40)


X_TOO_BIG = png_bytes(padding=5_242_880)
FACEBOOK_TOO_BIG = png_bytes(padding=10_000_000)


@pytest.mark.parametrize("name, data, account, problem", [
    ("map.bmp", b"BM" + b"\x00" * 60, "hackney-x",
     "hackney-x: map.bmp: X does not take image/bmp images (it takes image/jpeg, image/png, "
     "image/gif, image/webp)"),
    ("big.png", X_TOO_BIG, "hackney-x",
     f"hackney-x: big.png: {len(X_TOO_BIG):,} bytes, over X's 5,242,880 for an image"),
    ("big.png", FACEBOOK_TOO_BIG, "hackney-facebook",
     f"hackney-facebook: big.png: {len(FACEBOOK_TOO_BIG):,} bytes, over Facebook's 10,000,000 "
     "for an image"),
    ("notes.png", b"Officers' notes, not a picture", "hackney-x",
     "not an image metpost recognises (PNG, JPEG, GIF, WebP, BMP, TIFF, HEIF or AVIF)"),
    # Cut short, as a download that stopped: the platform would refuse each, mid-broadcast.
    ("cut.png", png_bytes(4, 3)[:-20], "hackney-x",
     "cut.png: the file is cut short or damaged (it does not end as a PNG does); save it again"),
    ("signature.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "hackney-x",
     "signature.png: the file is cut short or damaged (it does not end as a PNG does); save it "
     "again"),
    ("six.gif", b"GIF89a", "hackney-x",
     "six.gif: the file is cut short or damaged (it does not end as a GIF does); save it again"),
    ("empty.png", b"", "hackney-x", "empty.png: the file is empty (0 bytes); save the image "
     "again"),
    ("cut.webp", b"RIFF" + (1000).to_bytes(4, "little") + b"WEBPVP8 " + b"\x00" * 40,
     "hackney-x",
     "cut.webp: the file is cut short or damaged (it does not end as a WebP does); save it "
     "again"),
    ("cut.jpg", jpeg_bytes()[:-2], "hackney-x",
     "cut.jpg: the file is cut short or damaged (it does not end as a JPEG does); save it again"),
    # Its EXIF thumbnail ends with an end-of-image marker of its own; the photo is still cut.
    ("thumbnail.jpg", _with_thumbnail(jpeg_bytes())[:-2], "hackney-x",
     "thumbnail.jpg: the file is cut short or damaged (it does not end as a JPEG does); save it "
     "again"),
    ("header.jpg", jpeg_bytes()[:30], "hackney-x",
     "header.jpg: the file is cut short or damaged (it does not end as a JPEG does); save it "
     "again"),
    # Where a segment must begin, something else: its bytes cannot be read as the image.
    ("damaged.jpg", b"\xff\xd8\xff\xfe\x00\x04ab\x00\xda\x00\x02\x00\xff\xd9", "hackney-x",
     "damaged.jpg: the file is cut short or damaged (it does not end as a JPEG does); save it "
     "again"),
    ("cut.bmp", _bmp_bytes()[:-10], "hackney-facebook",
     "cut.bmp: the file is cut short or damaged (it does not end as a BMP does); save it again"),
    ("cut.heic", _heif_bytes()[:-10], "hackney-facebook",
     "cut.heic: the file is cut short or damaged (it does not end as a HEIF does); save it "
     "again"),
])
def test_a_type_or_size_the_platform_does_not_take_is_refused(fleet, tmp_path, name, data,
                                                              account, problem):
    path = image_file(tmp_path, name, data)
    outcome = send(fleet, "--image", str(path), "--alt", ALT, account=account)
    assert_refused(fleet, outcome, problem)


def test_an_image_at_the_limit_is_taken(fleet, tmp_path):
    padding = 5_242_880 - len(png_bytes(padding=1)) + 1
    path = image_file(tmp_path, "exact.png", png_bytes(padding=padding))
    assert path.stat().st_size == 5_242_880
    assert send(fleet, "--image", str(path), "--alt", ALT, account="hackney-x").exit_code == 0
    [post] = fleet.x.live_posts("MPSHackney")
    assert len(fleet.x.post_media(post)[0].data) == 5_242_880


def test_more_images_than_the_platform_takes_are_refused(fleet, tmp_path):
    images = []
    for number in range(5):
        images += ["--image", str(image_file(tmp_path, f"{number}.png", png_bytes(padding=number
                                                                                     + 1))),
                   "--alt", f"photo {number}"]
    outcome = send(fleet, *images, account="hackney-x")
    assert_refused(fleet, outcome, "hackney-x: 5 images, but X takes at most 4 in one post")


def test_an_alt_text_longer_than_the_platform_takes_is_refused(fleet, png):
    outcome = send(fleet, "--image", str(png), "--alt", "a" * 1001, account="hackney-x")
    assert_refused(fleet, outcome, "hackney-x: map.png: alt text of 1,001 characters, over "
                                   "X's 1,000")


def test_a_missing_file_is_refused(fleet, tmp_path):
    outcome = send(fleet, "--image", str(tmp_path / "gone.png"), "--alt", ALT)
    assert_refused(fleet, outcome, f"--image {tmp_path / 'gone.png'}: no such file")


def test_platforms_that_take_no_images_refuse_them(project, cli_run, png, tmp_path):
    config = project("""\
        accounts:
          - {name: hackney-hook, platform: webhook, url: "http://127.0.0.1:9/hook"}
          - {name: hackney-feed, platform: feed, path: feed.xml}
        """)
    outcome = cli_run(["send", "--config", str(config), "--ledger",
                       str(tmp_path / "l.sqlite3"), "--all", "-m", "Roads closed", "--image",
                       str(png), "--alt", ALT, "--dry-run", "--json"])
    assert outcome.exit_code == 2
    problems = {p["account"]: p["problems"] for p in json.loads(outcome.stdout)["posts"]}
    assert problems == {
        name: [f"{title} posts cannot carry images (1 given); leave its accounts out "
               "(--platform), or give them a template variant without images"]
        for name, title in (("hackney-hook", "Webhook"), ("hackney-feed", "Atom feed"))}


# -- the dry run says what goes out ----------------------------------------------------------

def test_the_dry_run_lists_each_image_and_its_alt_text(fleet, png, tmp_path):
    photo = image_file(tmp_path, "suspect.jpg", jpeg_bytes())
    args = ["send", "--borough", "Hackney", "-m", TEXT, "--image", str(png), "--alt", ALT,
            "--image", str(photo), "--alt", "CCTV still of a man in a grey coat", "--dry-run"]
    plain = fleet.run(args)
    assert plain.exit_code == 0, plain.stderr
    lines = plain.stdout.splitlines()
    # The X post and the Facebook post are one text with the same images: shown once.
    assert lines.count(f'image 1: map.png (image/png, {png.stat().st_size} bytes): alt "{ALT}"'
                       ) == 1
    assert lines.count(f"image 2: suspect.jpg (image/jpeg, {photo.stat().st_size} bytes): "
                       'alt "CCTV still of a man in a grey coat"') == 1
    document = json.loads(fleet.run([*args, "--json"]).stdout)
    for post in document["posts"]:
        assert [(i["path"], i["mime_type"], i["alt"]) for i in post["images"]] == [
            (str(png), "image/png", ALT),
            (str(photo), "image/jpeg", "CCTV still of a man in a grey coat")]
    page = tmp_path / "page.html"
    assert fleet.run([*args, "--html", str(page)]).exit_code == 0
    html = page.read_text()
    assert html.count(f'alt="{ALT}"') == 2
    assert html.count('src="data:image/png;base64,') == 2
    assert f"Alt text: {ALT}" in html
    assert "http" not in html.split("<main>")[0]  # nothing fetched from elsewhere
    assert fleet.x.request_count == fleet.graph.request_count == 0


def test_a_terminal_dry_run_lists_the_images_too(fleet, png):
    code, screen = on_terminal(fleet_args(fleet, [
        "send", "--account", "hackney-x", "-m", TEXT, "--image", str(png), "--alt", ALT,
        "--dry-run"]), fleet.env, columns=160)
    assert code == 0
    assert f'image 1: map.png (image/png, {png.stat().st_size} bytes): alt "{ALT}"' in screen


# -- X --------------------------------------------------------------------------------------------

def test_x_uploads_with_v2_media_describes_and_attaches(fleet, png, tmp_path):
    photo = image_file(tmp_path, "suspect.jpg", jpeg_bytes())
    outcome = send(fleet, "--image", str(png), "--alt", ALT, "--image", str(photo), "--alt",
                   "CCTV still", account="hackney-x")
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    [post] = fleet.x.live_posts("MPSHackney")
    media = fleet.x.post_media(post)
    assert [(m.mime_type, m.alt_text, m.data) for m in media] == [
        ("image/png", ALT, png.read_bytes()), ("image/jpeg", "CCTV still", photo.read_bytes())]
    uploads = requests_to(fleet.x, UPLOAD)
    assert [r.multipart()["media_category"].text for r in uploads] == ["tweet_image"] * 2
    assert all(r.headers["authorization"].startswith("OAuth ") for r in uploads)
    assert [r.json()["metadata"]["alt_text"]["text"] for r in requests_to(fleet.x, METADATA)
            ] == [ALT, "CCTV still"]
    [create] = requests_to(fleet.x, TWEETS)
    assert create.json()["media"]["media_ids"] == [m.id for m in media]


def test_x_an_upload_that_failed_is_tried_again(fleet, png):
    fleet.x.queue_fault(1, Fault("fail", answer=lambda _r: fleet.x.error_reply(503),
                                 paths=frozenset({UPLOAD})))
    outcome = send(fleet, "--image", str(png), "--alt", ALT, account="hackney-x")
    assert outcome.exit_code == 0, outcome.stdout
    [post] = fleet.x.live_posts("MPSHackney")
    assert len(fleet.x.post_media(post)) == 1
    assert len(requests_to(fleet.x, UPLOAD)) == 2 and len(requests_to(fleet.x, TWEETS)) == 1


def test_x_a_post_with_images_made_then_answered_500_is_found_not_posted_twice(fleet, png):
    fleet.x.refuse_duplicates = False
    on_part(fleet.x, 1, Fault("post_then_fail", process=True,
                              answer=lambda _r: fleet.x.error_reply(500)))
    outcome = send(fleet, "--image", str(png), "--alt", ALT, account="hackney-x")
    assert outcome.exit_code == 0, outcome.stdout
    [post] = fleet.x.live_posts("MPSHackney")  # X lists it with its image's t.co link added
    assert json.loads(outcome.stdout)["posts"][0]["remote_id"] == post.id
    assert len(requests_to(fleet.x, TWEETS)) == 1


def test_x_a_resend_uses_the_image_already_uploaded(fleet, png):
    fleet.x.refuse_duplicates = False
    fleet.x.queue_fault(1, Fault("rate_limit", answer=lambda _r: fleet.x.rate_limit_reply(0.2),
                                 paths=frozenset({TWEETS})))
    outcome = send(fleet, "--image", str(png), "--alt", ALT, account="hackney-x")
    assert outcome.exit_code == 0, outcome.stdout
    creates = requests_to(fleet.x, TWEETS)
    assert len(creates) == 2
    assert creates[0].json()["media"] == creates[1].json()["media"]
    assert len(requests_to(fleet.x, UPLOAD)) == 1 and len(requests_to(fleet.x, METADATA)) == 1
    assert len(fleet.x.live_posts("MPSHackney")) == 1


# -- Facebook -------------------------------------------------------------------------------------

def test_facebook_uploads_unpublished_photos_and_attaches_them_to_one_post(fleet, png, tmp_path):
    photo = image_file(tmp_path, "suspect.jpg", jpeg_bytes())
    outcome = send(fleet, "--image", str(png), "--alt", ALT, "--image", str(photo), "--alt",
                   "CCTV still", account="hackney-facebook")
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    [post] = fleet.graph.live_posts("1001")
    assert post.message == "Hackney: roads around Mare Street are closed."
    photos = fleet.graph.post_photos(post)
    assert [(p.mime_type, p.alt_text, p.post_id) for p in photos] == [
        ("image/png", ALT, post.id), ("image/jpeg", "CCTV still", post.id)]
    uploads = [r for r in fleet.graph.requests if r.path.endswith("/1001/photos")]
    assert [r.multipart()["published"].text for r in uploads] == ["false", "false"]
    assert len(fleet.graph.photos) == 2  # no photo became a post of its own


def test_facebook_photo_upload_errors_are_retried_and_a_lost_post_is_found(fleet, png):
    fleet.graph.refuse_duplicates = False
    photos = frozenset({"/v24.0/1001/photos"})
    fleet.graph.queue_fault(1, Fault("fail", answer=lambda _r: fleet.graph.error_reply(500),
                                     paths=photos))
    on_part(fleet.graph, 1, Fault("post_then_fail", process=True,
                                  answer=lambda _r: fleet.graph.error_reply(500)),
            path="/v24.0/1001/feed")
    outcome = send(fleet, "--image", str(png), "--alt", ALT, account="hackney-facebook")
    assert outcome.exit_code == 0, outcome.stdout
    [post] = fleet.graph.live_posts("1001")
    assert len(fleet.graph.post_photos(post)) == 1
    assert len([r for r in fleet.graph.requests if r.path == "/v24.0/1001/feed"]) == 1


# -- Mastodon -------------------------------------------------------------------------------------

def test_mastodon_media_carry_their_description_and_a_resend_reuses_them(mastodon, png):
    # Mastodon's own 500: it is done with the request, so the status is resent at once.
    on_part(mastodon.fake, 1, Fault("post_then_fail", process=True,
                                    answer=lambda _r: mastodon.fake.error_reply(500)),
            path="/api/v1/statuses")
    outcome = mastodon.send(TEXT, "--image", str(png), "--alt", ALT)
    assert outcome.exit_code == 0, outcome.stdout
    [status] = mastodon.fake.live_statuses("mpshackney")
    [attachment] = mastodon.fake.status_attachments(status)
    assert (attachment.mime_type, attachment.description) == ("image/png", ALT)
    uploads = [r for r in mastodon.fake.requests if r.path == "/api/v2/media"]
    assert len(uploads) == 1  # the resend named the same attachment
    statuses = [r for r in mastodon.fake.requests if r.path == "/api/v1/statuses"]
    assert [r.form_lists()["media_ids[]"] for r in statuses] == [[attachment.id]] * 2


def test_mastodon_refuses_an_alt_text_over_1500_before_anything_is_sent(mastodon, png):
    outcome = mastodon.send(TEXT, "--image", str(png), "--alt", "a" * 1501)
    assert outcome.exit_code == 2
    assert "alt text of 1,501 characters, over Mastodon's 1,500" in outcome.stderr
    assert mastodon.fake.request_count == 0


# -- Bluesky --------------------------------------------------------------------------------------

def test_bluesky_embeds_its_blobs_with_their_alt_text(bluesky, png):
    blob = "/xrpc/com.atproto.repo.uploadBlob"
    bluesky.fake.queue_fault(1, Fault("fail", answer=lambda _r: bluesky.fake.error_reply(500),
                                      paths=frozenset({blob})))
    on_part(bluesky.fake, 1, Fault("post_then_fail", process=True,
                                   answer=lambda _r: bluesky.fake.error_reply(502)),
            path="/xrpc/com.atproto.repo.putRecord")
    outcome = bluesky.send(TEXT, "--image", str(png), "--alt", ALT)
    assert outcome.exit_code == 0, outcome.stdout
    [record] = bluesky.fake.posts("mpshackney.bsky.social")
    [image] = record["embed"]["images"]
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    assert image["alt"] == ALT
    assert (image["image"]["mimeType"], image["image"]["size"]) == ("image/png",
                                                                    png.stat().st_size)
    assert bluesky.fake.updates == 0


def test_bluesky_refuses_an_image_over_2_mb(bluesky, tmp_path):
    big = image_file(tmp_path, "big.png", png_bytes(padding=2_000_000))
    outcome = bluesky.send(TEXT, "--image", str(big), "--alt", ALT)
    assert outcome.exit_code == 2
    assert f"big.png: {big.stat().st_size:,} bytes, over Bluesky's 2,000,000 for an image" in (
        outcome.stderr)
    assert bluesky.fake.request_count == 0


# -- what makes a broadcast the same ----------------------------------------------------------

def test_the_idempotency_key_covers_the_images(fleet, png, tmp_path):
    fleet.x.refuse_duplicates = False  # the same words, other images: the fake takes them
    assert send(fleet, "--image", str(png), "--alt", ALT, account="hackney-x").exit_code == 0
    again = send(fleet, "--image", str(png), "--alt", ALT, account="hackney-x")
    assert [p["status"] for p in json.loads(again.stdout)["posts"]] == ["already sent"]
    other = image_file(tmp_path, "other.png", png_bytes(4, 3, padding=8))
    other_image = send(fleet, "--image", str(other), "--alt", ALT, account="hackney-x")
    assert [p["status"] for p in json.loads(other_image.stdout)["posts"]] == ["sent"]
    other_alt = send(fleet, "--image", str(png), "--alt", ALT + ".", account="hackney-x")
    assert [p["status"] for p in json.loads(other_alt.stdout)["posts"]] == ["sent"]
    assert len(fleet.x.live_posts("MPSHackney")) == 3


def test_a_keyed_rerun_with_other_images_finishes_with_the_recorded_ones(fleet, png, tmp_path):
    fleet.x.revoke(fleet.x_token("hackney"))
    first = send(fleet, "--image", str(png), "--alt", ALT, "--key", "k1", account="hackney-x")
    assert [p["status"] for p in json.loads(first.stdout)["posts"]] == ["failed"]
    fleet.x.revoked.clear()
    other = image_file(tmp_path, "other.png", png_bytes(padding=3))
    rerun = send(fleet, "--image", str(other), "--alt", "another", "--key", "k1",
                 account="hackney-x")
    assert rerun.exit_code == 0, rerun.stdout
    assert json.loads(rerun.stdout)["notes"][-1].endswith(
        "was recorded with other images for 1 account (hackney-x); it is finished with the "
        "recorded images. To send the new ones, use a new --key or --again.")
    [post] = fleet.x.live_posts("MPSHackney")
    assert [m.data for m in fleet.x.post_media(post)] == [png.read_bytes()]


def test_an_image_changed_before_a_retry_is_not_sent(fleet, png):
    fleet.x.revoke(fleet.x_token("hackney"))
    assert send(fleet, "--image", str(png), "--alt", ALT, account="hackney-x").exit_code == 1
    fleet.x.revoked.clear()
    png.write_bytes(png_bytes(9, 9))
    before = fleet.x.request_count
    retried = fleet.run(["retry", "last", "--yes", "--json"])
    [post] = json.loads(retried.stdout)["posts"]
    assert post["status"] == "failed"
    assert "has changed since the broadcast was recorded" in post["error"]
    assert fleet.x.live_posts("MPSHackney") == [] and fleet.x.request_count == before


def test_show_lists_the_images(fleet, png):
    assert send(fleet, "--image", str(png), "--alt", ALT, account="hackney-x").exit_code == 0
    shown = fleet.run(["show", "last"])
    assert f'image 1: map.png (image/png, {png.stat().st_size} bytes): alt "{ALT}"' in (
        shown.stdout)
    [post] = json.loads(fleet.run(["show", "last", "--json"]).stdout)["posts"]
    assert [(i["path"], i["alt"]) for i in post["images"]] == [(str(png), ALT)]


# -- templates that declare images -------------------------------------------------------------

def template_fleet(fleet, front_matter: str, variants: dict[str, str] | None = None) -> None:
    folder = fleet.root / "templates"
    (folder / "parts").mkdir(exist_ok=True)
    (folder / "parts" / "map.png").write_bytes(png_bytes(5, 5))
    (folder / "closure.j2").write_text(f"---\n{front_matter}---\n{{{{ borough }}}}: roads "
                                       "closed.\n", encoding="utf-8")
    for name, body in (variants or {}).items():
        (folder / name).write_text(body, encoding="utf-8")


def test_a_template_declares_its_images_relative_to_templates(fleet):
    template_fleet(fleet, f"images: [{{path: parts/map.png, alt: \"{ALT}\"}}]\n", {
        "closure.facebook.j2": "---\nimages: []\n---\n{{ borough }}: roads closed (page).\n"})
    outcome = fleet.run(["send", "--borough", "Hackney", "--template", "closure", "--yes",
                         "--json"])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    [post] = fleet.x.live_posts("MPSHackney")
    assert [m.alt_text for m in fleet.x.post_media(post)] == [ALT]
    [page_post] = fleet.graph.live_posts("1001")
    assert page_post.photo_ids == ()  # the variant says: no images on Facebook


@pytest.mark.parametrize("front_matter, problem", [
    ("images: [{path: ../accounts.yaml, alt: x}]\n",
     "image ../accounts.yaml: '..' leads out of"),
    ("images: [{path: /etc/passwd, alt: x}]\n", "image /etc/passwd: an absolute path"),
    ("images: [{path: parts/map.png}]\n",
     "image parts/map.png has no alt text: add alt: to it in"),
    ("images: [{path: parts/gone.png, alt: x}]\n", "image parts/gone.png: no such file in"),
])
def test_template_images_are_confined_and_described(fleet, front_matter, problem):
    template_fleet(fleet, front_matter)
    outcome = fleet.run(["send", "--borough", "Hackney", "--template", "closure", "--yes"])
    assert outcome.exit_code == 2
    assert problem in outcome.stderr, outcome.stderr
    assert fleet.x.request_count == fleet.graph.request_count == 0
    checked = fleet.run(["check"])  # found at once, without sending, for every template
    assert checked.exit_code == 2 and problem in checked.stdout + checked.stderr


def test_an_image_given_twice_is_refused(fleet, png, tmp_path):
    copy = image_file(tmp_path, "copy-of-map.png", png.read_bytes())  # same bytes, other name
    outcome = send(fleet, "--image", str(png), "--alt", ALT, "--image", str(copy), "--alt", "again",
                   account="hackney-x")
    assert_refused(fleet, outcome, f"--image {copy}: the same image as --image {png}; a post "
                   "carries each image once: leave one of them out")


def test_an_image_the_template_declares_is_not_attached_again(fleet):
    template_fleet(fleet, f"images: [{{path: parts/map.png, alt: \"{ALT}\"}}]\n")
    again = fleet.root / "templates" / "parts" / "map.png"
    outcome = fleet.run(["send", "--borough", "Hackney", "--template", "closure", "--image",
                         str(again), "--alt", ALT, "--yes"])
    assert_refused(fleet, outcome, f"--image {again}: the same image as {fleet.root}/templates/"
                   "closure.j2: image parts/map.png; a post carries each image once")


def test_check_finds_an_image_a_template_declares_twice(fleet):
    template_fleet(fleet, "images: [{path: parts/map.png, alt: a}, {path: ./parts/map.png, "
                   "alt: b}]\n")
    checked = fleet.run(["check"])
    assert checked.exit_code == 2
    template = fleet.root / "templates" / "closure.j2"
    assert (f"{template}: image ./parts/map.png: the same image as {template}: image "
            "parts/map.png") in checked.stdout + checked.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install "
                    "chromium; .ci/run installs it)")
def test_the_page_shows_the_pictures_their_alt_text_and_each_part(fleet, png, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is a test dependency")
    from tests.test_threads import LONG

    page_file = tmp_path / "page.html"
    outcome = fleet.run(["send", "--borough", "Hackney", "-m", LONG, "--thread", "--image",
                         str(png), "--alt", ALT, "--dry-run", "--html", str(page_file)])
    assert outcome.exit_code == 0, outcome.stderr
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            tab = browser.new_page(viewport={"width": 412, "height": 915})
            tab.on("console", lambda message: problems.append(message.text)
                   if message.type in ("error", "warning") else None)
            tab.on("pageerror", lambda error: problems.append(str(error)))
            fetched: list[str] = []
            tab.on("request", lambda request: fetched.append(request.url))
            tab.goto(page_file.as_uri())
            x_card = tab.locator('article.card[data-platform="x"]')
            parts = x_card.locator("section.part").count()
            pictures = tab.locator("figure img")
            shown = [(pictures.nth(i).get_attribute("alt"),
                      pictures.nth(i).evaluate("image => image.naturalWidth"))
                     for i in range(pictures.count())]
            captions = tab.locator("figcaption").all_inner_texts()
            width = tab.evaluate("document.documentElement.scrollWidth")
        finally:
            browser.close()
    assert problems == []
    assert [url for url in fetched if not url.startswith("data:")] == [page_file.as_uri()]
    assert parts == 3
    assert shown == [(ALT, 4), (ALT, 4)]  # decoded, on the X card's first part and on Facebook's
    assert captions == [f"Alt text: {ALT}"] * 2
    assert width <= 412


def test_an_image_path_that_is_a_folder_is_said_to_be_one(fleet, tmp_path):
    folder = tmp_path / "maps"
    folder.mkdir()
    outcome = send(fleet, "--image", str(folder), "--alt", ALT, account="hackney-x")
    assert_refused(fleet, outcome, "it is a folder; give the path of an image file")


@pytest.mark.parametrize("brand, mime_type", [(b"msf1", "image/heif"), (b"avis", "image/avif"),
                                               (b"heim", "image/heic")])
def test_heif_and_avif_sequences_are_images(brand, mime_type):
    from metpost.media import image_type

    assert image_type(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 20) == mime_type


@pytest.mark.parametrize("name, data", [
    ("photo.jpg", jpeg_bytes()),
    ("thumbnail.jpg", _with_thumbnail(jpeg_bytes())),
    # Fill bytes (0xFF) may come before any marker.
    ("padded.jpg", jpeg_bytes().replace(b"\xff\xdb", b"\xff\xff\xff\xdb", 1)),
    # A phone's motion photo: the photo's end-of-image marker, then its video.
    ("motion.jpg", jpeg_bytes() + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8),
    ("photo.bmp", _bmp_bytes()),
    ("photo.heic", _heif_bytes()),
])
def test_whole_images_are_taken_as_they_are(tmp_path, name, data):
    from metpost.media import load_image

    path = image_file(tmp_path, name, data)
    assert load_image(path, ALT, name).size == len(data)


def test_an_end_marker_across_two_reads_is_found():
    from metpost.media import SCAN_CHUNK, whole_image

    # The scan's data runs on so that the end-of-image marker's two bytes fall either side of
    # the first chunk read after the scan's header.
    data = jpeg_bytes()[:-2] + b"\x00" * (SCAN_CHUNK - 2) + b"\xff\xd9"
    assert whole_image("image/jpeg", io.BytesIO(data), len(data))
