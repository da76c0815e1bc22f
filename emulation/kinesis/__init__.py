"""kinesis"""
