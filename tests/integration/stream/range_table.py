"""range_table.py BUILD_DIR — the Range conformance table (ctest
integration.stream_range_table).

One synthetic video holds the same random bytes (3 MiB + 12,345) under a rung
per case (r01.mp4, r02.mp4, ...); a private nginx (Debian's, sendfile on)
serves those bytes from disk as 720p.mp4. Every case is sent to mcloud-stream
twice — first a cache miss (the case's own object, never requested before),
then a hit — and once to nginx, and the answers are compared on status,
Content-Range, Content-Length, Content-Type and body; multipart/byteranges
answers on each part's Content-Type, Content-Range and bytes (not the
boundary). Conditional cases name each server's own validators ({etag},
{lm}: nginx's ETag is mtime-size, mcloud-stream's is S3's).

Where mcloud-stream answers differently from nginx on purpose, the
difference is in DELIBERATE below with its reason and mcloud-stream's
expected value, and docs/STREAM_RANGES.md lists it: a difference that is not
listed fails, and so does a listed one that no longer occurs.

Besides the comparison, each answer must be well framed (Content-Length is
the body's length; no body on HEAD and 304; each part's bytes are the
object's bytes at its Content-Range) and mcloud-stream's must carry
Accept-Ranges, CORS, and S3's ETag as a strong validator."""

import email.utils
import hashlib
import os
import re
import sys
from datetime import timedelta, timezone

import streamtest as st
from streamtest import log

SIZE = 3 * 1024 * 1024 + 12345
L = SIZE
DOCS = os.path.join(st.HERE, "..", "..", "..", "docs", "STREAM_RANGES.md")


def ranges(n, step, width):
    return ",".join(f"{i * step}-{i * step + width - 1}" for i in range(n))


# (name, method, headers); header values may name {etag}, {lm}, {lm_older}, {lm_newer}.
CASES = [
    ("no_range", "GET", []),
    ("head_no_range", "HEAD", []),
    ("first_byte", "GET", [("Range", "bytes=0-0")]),
    ("first_kib", "GET", [("Range", "bytes=0-1023")]),
    ("middle_mib", "GET", [("Range", "bytes=1000000-2048575")]),
    ("last_byte", "GET", [("Range", f"bytes={L - 1}-{L - 1}")]),
    ("whole_exact", "GET", [("Range", f"bytes=0-{L - 1}")]),
    ("open_ended", "GET", [("Range", "bytes=1048576-")]),
    ("open_ended_zero", "GET", [("Range", "bytes=0-")]),
    ("open_ended_last_byte", "GET", [("Range", f"bytes={L - 1}-")]),
    ("last_past_end", "GET", [("Range", f"bytes=100-{L + 1000}")]),
    ("suffix", "GET", [("Range", "bytes=-500")]),
    ("suffix_one", "GET", [("Range", "bytes=-1")]),
    ("suffix_whole", "GET", [("Range", f"bytes=-{L}")]),
    ("suffix_larger_than_file", "GET", [("Range", f"bytes=-{2 * L}")]),
    ("suffix_zero", "GET", [("Range", "bytes=-0")]),
    ("first_at_end", "GET", [("Range", f"bytes={L}-")]),
    ("first_past_end", "GET", [("Range", f"bytes={L + 10}-{L + 20}")]),
    ("first_huge", "GET", [("Range", "bytes=99999999999999999999-")]),
    ("last_huge", "GET", [("Range", "bytes=0-99999999999999999999")]),
    ("suffix_huge", "GET", [("Range", "bytes=-99999999999999999999")]),
    ("multi_two", "GET", [("Range", "bytes=0-99,200-299")]),
    ("multi_three_mixed", "GET", [("Range", f"bytes=0-9,1000-1099,-10")]),
    ("multi_with_open_end", "GET", [("Range", f"bytes=100-199,{L - 100}-")]),
    ("multi_one_unsatisfiable", "GET", [("Range", f"bytes=0-9,{L + 5}-{L + 10}")]),
    ("multi_all_unsatisfiable", "GET", [("Range", f"bytes={L}-,{L + 1}-")]),
    ("multi_overlapping", "GET", [("Range", "bytes=0-499,250-749")]),
    ("multi_identical", "GET", [("Range", "bytes=0-99,0-99")]),
    ("multi_adjacent", "GET", [("Range", "bytes=0-99,100-199")]),
    ("multi_out_of_order", "GET", [("Range", "bytes=5000-5099,0-99")]),
    ("multi_sum_over_length", "GET", [("Range", "bytes=0-,0-")]),
    ("multi_16", "GET", [("Range", "bytes=" + ranges(16, 10000, 100))]),
    ("multi_17", "GET", [("Range", "bytes=" + ranges(17, 10000, 100))]),
    ("multi_1000", "GET", [("Range", "bytes=" + ranges(1000, 3000, 10))]),
    ("unit_unknown", "GET", [("Range", "items=0-99")]),
    ("unit_uppercase", "GET", [("Range", "BYTES=0-9")]),
    ("syntax_garbage", "GET", [("Range", "bytes=abc")]),
    ("syntax_reversed", "GET", [("Range", "bytes=100-50")]),
    ("syntax_negative", "GET", [("Range", "bytes=-5-10")]),
    ("syntax_no_equals", "GET", [("Range", "bytes 0-99")]),
    ("syntax_empty_set", "GET", [("Range", "bytes=")]),
    ("syntax_trailing_comma", "GET", [("Range", "bytes=0-9,")]),
    ("syntax_empty_element", "GET", [("Range", "bytes=0-9,,20-29")]),
    ("space_after_comma", "GET", [("Range", "bytes=0-9, 20-29")]),
    ("space_around_equals", "GET", [("Range", "bytes = 0-9")]),
    ("space_inside_range", "GET", [("Range", "bytes=0 - 9")]),
    ("if_range_etag_match", "GET", [("Range", "bytes=0-99"), ("If-Range", "{etag}")]),
    ("if_range_etag_other", "GET", [("Range", "bytes=0-99"), ("If-Range", '"other"')]),
    ("if_range_etag_weak", "GET", [("Range", "bytes=0-99"), ("If-Range", "W/{etag}")]),
    ("if_range_date_match", "GET", [("Range", "bytes=0-99"), ("If-Range", "{lm}")]),
    ("if_range_date_older", "GET", [("Range", "bytes=0-99"), ("If-Range", "{lm_older}")]),
    ("if_range_garbage", "GET", [("Range", "bytes=0-99"), ("If-Range", "not a validator")]),
    ("if_range_unsatisfiable", "GET", [("Range", f"bytes={L}-"), ("If-Range", '"other"')]),
    ("inm_match", "GET", [("If-None-Match", "{etag}")]),
    ("inm_star", "GET", [("If-None-Match", "*")]),
    ("inm_other", "GET", [("If-None-Match", '"other"')]),
    ("inm_weak_match", "GET", [("If-None-Match", "W/{etag}")]),
    ("inm_list_match", "GET", [("If-None-Match", '"other", {etag}')]),
    ("inm_match_with_range", "GET", [("If-None-Match", "{etag}"), ("Range", "bytes=0-99")]),
    ("inm_head", "HEAD", [("If-None-Match", "{etag}")]),
    ("ims_equal", "GET", [("If-Modified-Since", "{lm}")]),
    ("ims_older", "GET", [("If-Modified-Since", "{lm_older}")]),
    ("ims_newer", "GET", [("If-Modified-Since", "{lm_newer}")]),
    ("ims_garbage", "GET", [("If-Modified-Since", "yesterday")]),
    ("ims_ignored_for_inm", "GET", [("If-None-Match", '"other"'), ("If-Modified-Since", "{lm}")]),
    ("if_match_other", "GET", [("If-Match", '"other"')]),
    ("if_match_match", "GET", [("If-Match", "{etag}"), ("Range", "bytes=0-99")]),
    ("ius_older", "GET", [("If-Unmodified-Since", "{lm_older}")]),
    ("head_range", "HEAD", [("Range", "bytes=0-99")]),
    ("head_multi", "HEAD", [("Range", "bytes=0-9,20-29")]),
    ("head_unsatisfiable", "HEAD", [("Range", f"bytes={L}-")]),
]

ERROR_DOCUMENT = "error_document"
WHOLE = {"status": 206, "content-range": f"bytes 0-{L - 1}/{L}"}
ANSWER = {"status", "content-range", "content-type", "content-length", "body"}      # vs an error page
MULTI_VS_WHOLE = {"status", "content-type", "content-length", "body", "parts"}     # 200 vs multipart
# Deliberate differences: case -> (fields that differ from nginx, mcloud-stream's
# values for some of them, reason). ERROR_DOCUMENT covers every answer with the
# same 4xx status on both sides. docs/STREAM_RANGES.md lists each entry.
DELIBERATE = {
    ERROR_DOCUMENT: ({"content-type", "content-length", "body"}, {},
                     "a 4xx answer carries each server's own error document: nginx an HTML page, "
                     "mcloud-stream its JSON error body"),
    "last_huge": (ANSWER, WHOLE,
                  "RFC 9110 14.1.1: a last-pos at or past the end means the end, also when it "
                  "does not fit in 64 bits; nginx answers 416 on the overflow"),
    "suffix_huge": (ANSWER, WHOLE,
                    "RFC 9110 14.1.1: a suffix longer than the representation selects all of it, "
                    "also when it does not fit in 64 bits; nginx answers 416 on the overflow"),
    "multi_17": (MULTI_VS_WHOLE, {"status": 200},
                 "more than 16 ranges: the Range header is ignored and the whole representation "
                 "sent (RFC 9110 14.2 allows ignoring Range; bounds the work per request); nginx has "
                 "no limit unless max_ranges is set"),
    "multi_1000": (MULTI_VS_WHOLE, {"status": 200}, "as multi_17"),
    "syntax_garbage": (ANSWER, {"status": 200},
                       "a Range that does not parse is ignored (200, RFC 9110 14.2); nginx answers 416"),
    "syntax_reversed": (ANSWER, {"status": 200},
                        "a range whose last-pos is before its first-pos is invalid, so the header "
                        "is ignored (RFC 9110 14.1.1, 14.2); nginx answers 416"),
    "syntax_negative": (ANSWER, {"status": 200}, "as syntax_garbage"),
    "syntax_trailing_comma": (ANSWER, {"status": 206, "content-range": f"bytes 0-9/{L}"},
                              "empty list elements are part of the list syntax and skipped "
                              "(RFC 9110 5.6.1.2); nginx answers 416"),
    "syntax_empty_element": (ANSWER | {"parts"}, {"status": 206, "content-type": "multipart/byteranges"},
                             "as syntax_trailing_comma: 0-9 and 20-29 as multipart/byteranges"),
    "ims_newer": ({"status", "content-type", "content-length", "body"}, {"status": 304},
                  "RFC 9110 13.1.3: not modified since a date at or after Last-Modified is 304; "
                  "nginx's default (if_modified_since exact) wants the exact date"),
}


def http_date(dt):
    return email.utils.format_datetime(dt.astimezone(timezone.utc), usegmt=True)


def digest(b):
    return hashlib.sha256(b).hexdigest()[:16]


def observe(resp, method, data, problems, who):
    """The comparable fields of an answer; framing faults go to problems."""
    status = resp.status
    o = {"status": status, "content-range": resp.header("Content-Range")}
    ctype = resp.header("Content-Type") or ""
    clen = resp.header("Content-Length")
    if method == "HEAD" or status == 304:
        if resp.body:
            problems.append(f"{who}: {len(resp.body)} body bytes on a {method} {status}")
        if status == 304 and clen not in (None, str(len(data))):
            problems.append(f"{who}: a 304 with Content-Length {clen} (RFC 9110 8.6: absent, "
                            f"or the {len(data)} bytes a 200 would send)")
    elif clen is None and (resp.header("Transfer-Encoding") or "").lower() != "chunked":
        problems.append(f"{who}: no Content-Length and not chunked")
    elif clen is not None and int(clen) != len(resp.body):
        problems.append(f"{who}: Content-Length {clen} but {len(resp.body)} body bytes")
    if status == 206 and ctype.lower().startswith("multipart/byteranges"):
        o["content-type"] = "multipart/byteranges"
        o["content-length"] = "(boundary-dependent)"
        if method == "HEAD":
            o["parts"] = None
            return o
        try:
            parts = st.parse_multipart(resp)
        except ValueError as e:
            problems.append(f"{who}: bad multipart body: {e}")
            o["parts"] = "unreadable"
            return o
        o["parts"] = [(h.get("content-type"), h.get("content-range"), digest(b)) for h, b in parts]
        for h, b in parts:
            m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", h.get("content-range", ""))
            if not m or data[int(m.group(1)):int(m.group(2)) + 1] != b:
                problems.append(f"{who}: part {h.get('content-range')} does not hold those bytes")
        return o
    o["content-type"] = ctype
    o["content-length"] = clen
    if status == 304 and clen in (None, str(len(data))):
        # RFC 9110 8.6: a 304 may carry Content-Length only as the 200's length
        o["content-length"] = "(absent or the 200's length)"
    if method == "GET":
        o["body"] = f"{len(resp.body)} bytes sha256:{digest(resp.body)}"
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", o["content-range"] or "")
        if status == 206 and (not m or data[int(m.group(1)):int(m.group(2)) + 1] != resp.body):
            problems.append(f"{who}: body does not hold the bytes of {o['content-range']}")
        if status == 200 and resp.body != data:
            problems.append(f"{who}: a 200 body that is not the object")
    return o


def mcloud_invariants(resp, method, etag, problems, who):
    if resp.header("Access-Control-Allow-Origin") != "*":
        problems.append(f"{who}: no 'Access-Control-Allow-Origin: *'")
    if resp.status in (200, 206):
        if (resp.header("Accept-Ranges") or "").lower() != "bytes":
            problems.append(f"{who}: no 'Accept-Ranges: bytes'")
        if not resp.header("Last-Modified"):
            problems.append(f"{who}: no Last-Modified")
    if resp.status in (200, 206, 304) and resp.header("ETag") != etag:
        problems.append(f"{who}: ETag {resp.header('ETag')!r}, S3's is {etag!r}")


def fill(headers, v):
    return [(k, val.format(**v)) for k, val in headers]


def differing(a, b):
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


def run_table(h, rep):
    data = os.urandom(SIZE)
    www = os.path.join(h.scratch, "www")
    os.makedirs(www)
    h.bulky.append(www)
    with open(os.path.join(www, "720p.mp4"), "wb") as f:
        f.write(data)
    ng = h.nginx(www)
    ng_head = st.request(ng.url, "HEAD", "/720p.mp4")
    ng_v = validators(ng_head.header("ETag"), email.utils.parsedate_to_datetime(ng_head.header("Last-Modified")))

    video = st.Video(h, title="range table")
    rungs = [f"r{i + 1:02d}" for i in range(len(CASES))]
    video.put("720p.mp4", data, "video/mp4")
    for r in rungs:
        video.put(f"{r}.mp4", data, "video/mp4")
    video.insert([("720p", 1280, 720, 2_000_000)] + [(r, 1280, 720, 2_000_000) for r in rungs])
    daemon = h.daemon()
    urls = st.mcloud_play(h.mcloud_bin, daemon, video.id)["mp4"]
    rep.check(set(urls) == {"720p", *rungs}, "mcloud play --json names every mp4 rung",
              f"got {sorted(urls)}")

    observed = {}  # ERROR_DOCUMENT -> the cases it covered
    mismatch_detail = {}
    rows = []
    for (name, method, headers), rung in zip(CASES, rungs):
        obj = video.objects[f"{rung}.mp4"]
        mc_v = validators(obj["etag"], obj["last_modified"])
        target = urls[rung].split(daemon.url, 1)[1]
        problems = []
        ng_resp = st.request(ng.url, method, "/720p.mp4", fill(headers, ng_v))
        ng_o = observe(ng_resp, method, data, problems, "nginx")
        answers = []
        for attempt in ("miss", "hit"):
            resp = st.request(daemon.url, method, target, fill(headers, mc_v))
            answers.append(observe(resp, method, data, problems, f"mcloud-stream ({attempt})"))
            mcloud_invariants(resp, method, obj["etag"], problems, f"mcloud-stream ({attempt})")
        rep.check(answers[0] == answers[1], f"{name}: cache miss and hit answer alike",
                  f"miss {answers[0]}\n       hit  {answers[1]}")
        rep.check(not problems, f"{name}: answers well framed", "\n       ".join(problems))
        diff = differing(answers[1], ng_o)
        if diff and diff <= DELIBERATE[ERROR_DOCUMENT][0] and ng_o["status"] == answers[1]["status"] >= 400:
            observed.setdefault(ERROR_DOCUMENT, set()).add(name)
            diff = set()
        expect = DELIBERATE.get(name)
        if expect:
            fields, values, _ = expect
            got = {k: answers[1].get(k) for k in values}
            rep.check(diff == fields and got == values,
                      f"{name}: differs from nginx exactly as listed ({', '.join(sorted(fields))})",
                      f"differing {sorted(diff)}; mcloud-stream {answers[1]}\n       nginx {ng_o}")
        else:
            rep.check(not diff, f"{name}: same answer as nginx ({answers[1]['status']})",
                      f"differing {sorted(diff)}\n       mcloud-stream {answers[1]}\n       nginx         {ng_o}")
        if diff:
            mismatch_detail[name] = (answers[1], ng_o)
        rows.append((name, method, headers, short(ng_o), short(answers[1])))
    unknown = set(DELIBERATE) - {c[0] for c in CASES} - {ERROR_DOCUMENT}
    rep.check(not unknown, "every deliberate difference names a case", f"unknown: {sorted(unknown)}")
    rep.check(ERROR_DOCUMENT in observed, "the error-document difference still occurs",
              "no case gave the same 4xx on both sides")
    rep.check(daemon.alive(), "mcloud-stream still running after the table")
    log("the table (markdown, for docs/STREAM_RANGES.md):")
    for name, method, headers, ng_s, mc_s in rows:
        req = " ".join(f"{k}: {v}" for k, v in headers) or "(none)"
        req = req if len(req) <= 60 else req[:57] + "..."
        mark = "" if ng_s == mc_s else " **≠**"
        print(f"| `{name}` | {method} | `{req}` | {ng_s} | {mc_s}{mark} |", flush=True)
    docs_listed(rep)
    return mismatch_detail


def short(o):
    """An answer in a few words: status, Content-Range or the parts."""
    if o.get("parts"):
        return f"{o['status']} multipart, {len(o['parts'])} parts"
    return f"{o['status']} {o['content-range'] or ''}".strip()


def validators(etag, last_modified):
    return {"etag": etag, "lm": http_date(last_modified),
            "lm_older": http_date(last_modified - timedelta(days=1)),
            "lm_newer": http_date(last_modified + timedelta(seconds=1))}


def docs_listed(rep):
    with open(DOCS) as f:
        text = f.read()
    for name in DELIBERATE:
        rep.check(f"`{name}`" in text, f"docs/STREAM_RANGES.md lists the deliberate difference {name}")


def main():
    log(f"{len(CASES)} cases")
    return st.main("stream_range_table", "stream-ranges", run_table, "the table")


if __name__ == "__main__":
    sys.exit(main())
