"""XML parsing and formatting for libvirt's document formats.

``safe`` loads untrusted XML; ``network`` parses and formats network
definitions the way libvirt does.  Every parse error carries the path of the
offending element, e.g. ``/network/ip[2]/dhcp/range[1]``.  ``canon`` holds the network
document's value forms and defaults, shared with the store's fast peek.

The package itself imports nothing (in particular not lxml): the cold commands import
``kvmnet.xmlio.canon`` and must not pay for the parser.
"""
