"""The Textual app. It talks to servers only through `taskboard.client`."""
