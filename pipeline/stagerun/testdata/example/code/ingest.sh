#!/bin/sh
# stands in for the ingest stage code
