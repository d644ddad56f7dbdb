"""crawl_links: what the Python crawl peers (gevent_crawl.py, aiohttp_crawl.py)
share, so that they differ only in how they wait: the link extraction (the
standard library's html.parser) and the process's CPU time."""

import resource
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit


class LinkParser(HTMLParser):
    """Collects the href of each <a>, character references decoded."""

    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value is not None)


def links(page, base, host):
    """The http(s) links of `page` (bytes, fetched from `base`) on `host`, resolved, without fragments."""
    parser = LinkParser()
    parser.feed(page.decode("utf-8", "replace"))
    parser.close()
    found = []
    for href in parser.hrefs:
        link = urldefrag(urljoin(base, href.strip()))[0]
        parts = urlsplit(link)
        if parts.scheme in ("http", "https") and parts.netloc == host:
            found.append(link)
    return found


def process_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
