"""The apps `upload_bench.py` serves: one multipart route and one streaming
route per framework, each answering with the size it received."""
