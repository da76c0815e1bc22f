"""firehose"""
