# SPDX-License-Identifier: MIT
"""A node to test the agent's Redfish resources on: a real kumod and a real
kumo-agent (one host, the sim driver unless told otherwise) with its thermal
controller on the box model and its Redfish service on a loopback port,
plain HTTP. The Redfish suites share it:

    from rfnode import RfNode
    node = RfNode(tmp, thermal="ambient_c = 30\\n").start()
    s = node.session()                 # requests.Session, Basic auth as admin
    r = s.get(node.base + "/redfish/v1/Chassis")
    node.stop()

thermal: extra lines for [thermal] (enabled = true is always there);
ini: extra sections for the agent's config file; driver: "sim" or "qemu".
"""
import os

import requests

from conftest import Cloud, free_port, wait_for


class RfNode:
    def __init__(self, tmp, driver="sim", thermal="", ini="", name="node1", kumod_config=None):
        self.tmp = tmp
        self.driver = driver
        self.name = name
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.ini_path = os.path.join(tmp, "agent-%s.ini" % name)
        with open(self.ini_path, "w") as f:
            f.write("[thermal]\nenabled = true\n" + thermal + "\n" + ini)
        self.kumod_config = kumod_config
        self.cloud = None
        self.agent = None

    def start(self):
        self.cloud = Cloud(self.tmp, self.kumod_config).start()
        self.agent = self.cloud.add_agent(self.name, extra=[
            "--driver", self.driver, "--config", self.ini_path,
            "--redfish-listen", "127.0.0.1:%d" % self.port, "--redfish-tls", "false"])
        wait_for(lambda: self._up(), timeout=20, what="the agent's Redfish service")
        return self

    def _up(self):
        try:
            return requests.get(self.base + "/redfish/v1/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    @property
    def password(self):
        with open(os.path.join(self.agent.dir, "redfish", "admin-password")) as f:
            return f.read().strip()

    def session(self, user="admin", password=None):
        s = requests.Session()
        s.auth = (user, password if password is not None else self.password)
        s.headers["Accept"] = "application/json"
        return s

    @property
    def host_id(self):
        return self.cloud.admin.ok("GET", "/v1/hosts?q=name=%s" % self.name)["items"][0]["id"]

    def restart_agent(self):
        self.agent.stop()
        self.agent.start()
        wait_for(lambda: self._up(), timeout=20, what="the agent's Redfish service again")

    def stop(self):
        if self.cloud:
            self.cloud.stop()
