#!/usr/bin/env python3
"""The playground (GET /) in a real browser: Debian's chromium, headless, driven by Selenium.

Starts `memory3 serve` (release build, SmolLM2) with an API key and an empty knowledge base, then,
as a user would: types the key, uploads a document through the page and waits until it is
encoded, asks a question with explicit memory, and checks that the answer streams in, that the
memory panel shows the answer's 64-token chunks with the uploaded document among their
references, that pointing at a chunk highlights its tokens, and that memory "off" says so. The
browser's console must stay free of errors. Writes docs/playground.png (a screenshot).

    python3 scripts/browser-test.py [--bin .build/release/memory3] [--screenshot docs/playground.png]

Needs chromium and chromium-driver (installed with apt-get when missing and run as root) and
Selenium (installed into .venv-browser). Exits non-zero on any failure.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-browser")


def ensure_tools():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.geteuid() != 0:
            raise SystemExit("browser-test: chromium and chromedriver are missing: apt-get install chromium chromium-driver")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], check=True, env=env, stdout=subprocess.DEVNULL)
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([python, "-c", "import selenium"], stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "selenium"], check=True)
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.environ.get("MEMORY3_BROWSER_VENV") != "1":
        # Run again inside the venv that has Selenium.
        os.execve(python, [python] + sys.argv, dict(os.environ, MEMORY3_BROWSER_VENV="1"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release/memory3"))
    parser.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--screenshot", default=os.path.join(ROOT, "docs/playground.png"))
    args = parser.parse_args()
    ensure_tools()

    from selenium import webdriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from serverkit import start_server, wait_ready

    key = "browser-test-key"
    work = tempfile.mkdtemp(prefix="memory3-browser-")
    server, port, log = start_server(args.bin, args.model, work, {"auth": {"api_keys": [key]}, "memory": {"knowledge_dir": None}},
                                     db=os.path.join(work, "knowledge.sqlite"))
    failures = []

    def check(name, condition, detail=""):
        print(f"{'ok  ' if condition else 'FAIL'}  {name}{': ' + detail if detail else ''}")
        if not condition:
            failures.append(name)

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = None
    try:
        wait_ready(server, port)
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")), options=options)
        wait = WebDriverWait(driver, 120)
        driver.get(f"http://127.0.0.1:{port}/")
        check("the page loads", driver.title == "memory3 playground", driver.title)
        # Before the key is typed, the page's first calls are refused (401): expected, not checked.
        driver.get_log("browser")
        driver.find_element(By.ID, "key").send_keys(key + Keys.TAB)
        wait.until(lambda d: "SmolLM2" in d.find_element(By.ID, "status").text)
        check("with the key typed in, the page names the model", True, driver.find_element(By.ID, "status").text)

        title = "Varnholm lighthouse"
        text = ("The Varnholm lighthouse was built in 1873 by the engineer Odila Brask. Its lamp burns whale oil, "
                "its tower is painted in ochre and teal stripes, and its first keeper was Tamsin Orrel, who kept it for 41 years.")
        driver.find_element(By.ID, "docTitle").send_keys(title)
        driver.find_element(By.ID, "docText").send_keys(text)
        driver.find_element(By.ID, "upload").click()
        wait.until(lambda d: "ready" in d.find_element(By.ID, "uploadStatus").text)
        wait.until(lambda d: title in d.find_element(By.ID, "docs").text)
        check("a document uploaded through the page is encoded and listed", True, driver.find_element(By.ID, "docs").text.replace("\n", " | "))

        # Greedy, so that the answers (and what this test sees) are the same every run.
        temperature = driver.find_element(By.ID, "temperature")
        temperature.clear()
        temperature.send_keys("0")
        Select(driver.find_element(By.ID, "mode")).select_by_value("explicit")
        k = driver.find_element(By.ID, "k")
        k.clear()
        k.send_keys("3")
        started = time.monotonic()
        driver.find_element(By.ID, "prompt").send_keys("Who built the Varnholm lighthouse, and who was its first keeper?" + Keys.ENTER)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#memory .chunk"))
        answer = driver.find_elements(By.CSS_SELECTOR, ".msg.assistant")[-1]
        check("the answer streams in", bool(answer.text.strip()), f"{answer.text[:100]!r} ({time.monotonic() - started:.1f} s)")
        wait.until(lambda d: title in d.find_element(By.ID, "memory").text)
        chunks = driver.find_elements(By.CSS_SELECTOR, "#memory .chunk")
        check("the memory panel shows each chunk with the uploaded document among its references",
              len(chunks) >= 1 and title in chunks[0].text, f"{len(chunks)} chunks; first: {chunks[0].text[:160]!r}")
        check("reference snippets come from the document's text", "Odila Brask" in driver.find_element(By.ID, "memory").text)
        tokens = answer.find_elements(By.CSS_SELECTOR, ".tok")
        check("the answer is split into its tokens", len(tokens) > 0, f"{len(tokens)} tokens")
        # A longer answer reads new memories while it is written (a swap every 64 generated tokens).
        driver.find_element(By.ID, "max").clear()
        driver.find_element(By.ID, "max").send_keys("200")
        driver.find_element(By.ID, "prompt").send_keys("Write a long story about the Varnholm lighthouse and its keepers." + Keys.ENTER)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg.assistant")) == 2 and not d.find_element(By.ID, "send").get_attribute("disabled"))
        wait.until(lambda d: title in d.find_element(By.ID, "memory").text)
        answer = driver.find_elements(By.CSS_SELECTOR, ".msg.assistant")[-1]
        chunks = driver.find_elements(By.CSS_SELECTOR, "#memory .chunk")
        generation_chunks = [c for c in chunks if c.text.startswith("generation")]
        check("a long answer shows the chunks read while generating", bool(generation_chunks),
              f"{len(chunks)} chunks: " + ", ".join(c.text.split(" ·")[0] for c in chunks))
        if generation_chunks:
            ActionChains(driver).move_to_element(generation_chunks[0]).perform()
            lit = answer.find_elements(By.CSS_SELECTOR, ".tok.lit")
            check("pointing at a generation chunk highlights its tokens", len(lit) > 0, f"{len(lit)} tokens lit")
        driver.save_screenshot(args.screenshot)
        print(f"      screenshot: {os.path.relpath(args.screenshot, ROOT)}")

        Select(driver.find_element(By.ID, "mode")).select_by_value("off")
        driver.find_element(By.ID, "prompt").send_keys("Say hello." + Keys.ENTER)
        wait.until(lambda d: "Memory was off" in d.find_element(By.ID, "memory").text)
        check("memory off: the panel says so", True)

        errors = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
        check("the browser console has no errors", not errors, "; ".join(e.get("message", "")[:120] for e in errors))
    except Exception as error:
        failures.append(repr(error))
        print(f"FAIL  {error!r}")
        if driver:
            driver.save_screenshot(os.path.join(work, "failure.png"))
            print(f"      failure screenshot: {work}/failure.png; server log: {work}/server.log")
    finally:
        if driver:
            driver.quit()
        server.kill()
        server.wait()
    print(f"browser-test: {'all passed' if not failures else f'{len(failures)} failed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
