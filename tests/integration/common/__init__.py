"""Code shared by the protocol test libraries (pop3_testlib, lmtp_testlib, imap_testlib)."""
