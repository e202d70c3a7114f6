"""An office's first day, end to end through the CLI (issue 13's acceptance): its own 任務分解表 (simplified
script: a title row, a 填報單位 row, category rows merged across, 序號 restarting under each, an unnumbered
類別 column, one 責任領導 merged down over two tasks written 姓名\\n(職務), an Excel date cell, two lead units in
one cell, a 備註 column, deadline cells as people write them, ongoing work) and its own 重點任務分工方案 in Word
(traditional script: a covering notice, the matrix as a table with merged cells) and the same table pasted
into a .txt. Written for this test from how such files look; the builders never saw it."""

from __future__ import annotations

import datetime as dt
import email
import json
import re
from email import policy
from pathlib import Path

from tests.e2e.test_cli import run


def _county_sheet(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "任务分解表"
    ws.append(["附件1"])
    ws.append(["青山县2026年乡村振兴重点任务分解表"])
    ws.merge_cells("A2:I2")
    ws.append(["填报单位：青山县乡村振兴领导小组办公室", None, None, None, None, None, "填报时间：2026年3月2日"])
    ws.append(["序号", "类别", "重点任务", "具体措施", "责任领导", "牵头单位", "责任单位", "完成时限", "备注"])
    rows = [
        ("一、基础设施",),
        (1, "交通", "农村公路建设", "新改建农村公路，提升通达水平", "张志强\n(县人民政府副县长)", "县交通运输局",
         "各乡镇人民政府、县财政局", "2026年11月底前新改建农村公路50公里", ""),
        (2, "交通", "公路养护", "落实农村公路养护责任", None, "县交通运输局", "各乡镇人民政府", dt.datetime(2026, 9, 30), ""),
        (3, "水利", "饮水安全巩固", "实施农村供水保障工程", "李红（副县长）", "县水利局；县卫生健康局", "县财政局",
         "6月底前完成20个村，12月底前累计完成45个村", "省考指标"),
        ("二、产业就业",),
        (1, "产业", "特色产业培育", "发展茶叶、食用菌等特色产业", "副县长 王刚", "县农业农村局", "县林业局、县市场监管局",
         "2026年4月底前制定方案，12月底前全面完成", ""),
        (2, "就业", "稳岗就业", "开展技能培训", "王刚\n李红", "县人力资源社会保障局", "县总工会\n团县委", "持续推进", ""),
        (3, "就业", "防止返贫监测", "常态化开展监测帮扶", "王刚", "县乡村振兴局", "各乡镇人民政府",
         "2026年12月底前完成，2027年持续推进", ""),
    ]
    for r in rows:
        ws.append(list(r))
    for r in (5, 9):
        ws.merge_cells(f"A{r}:I{r}")
    ws.merge_cells("E6:E7")
    ws.merge_cells("B6:B7")
    wb.save(path)
    return path


def test_a_county_sheet_goes_in_and_its_first_sweep_is_one_the_office_would_sign(tmp_path: Path, sqlite_url: str) -> None:
    sheet = _county_sheet(tmp_path / "county.xlsx")
    # Only the units are unknown to a new office: 16 problems, each an unknown unit, and nothing else.
    refused = run(["matrix", "validate", str(sheet), "--plan", "qs-2026", "--offline", "--json"], cwd=tmp_path,
                  db_url=sqlite_url, check=False)
    assert refused.returncode == 1
    problems = json.loads(refused.stdout)["problems"]
    assert len(problems) == 16 and {p["message"] for p in problems} == {"unknown unit, not in the unit directory"}
    # The directory skeleton from the plan; the office fills in the addresses.
    run(["units", "template", str(sheet), "-o", "units.yaml", "--offline"], cwd=tmp_path, db_url=sqlite_url)
    text = (tmp_path / "units.yaml").read_text(encoding="utf-8")
    counter = iter(range(1, 100))
    text = re.sub(r"emails: \[\]", lambda _m: f"emails: [u{next(counter)}@county.example.org]", text)
    (tmp_path / "units.yaml").write_text(text.replace("email: ''}", "email: lead@county.example.org}"), encoding="utf-8")
    run(["matrix", "import", str(sheet), "--plan", "qs-2026", "--directory", "units.yaml", "--as-of", "2026-12-07"],
        cwd=tmp_path, db_url=sqlite_url)
    stored = json.loads(run(["matrix", "export", "--format", "json", "--plan", "qs-2026"], cwd=tmp_path, db_url=sqlite_url).stdout)
    plan, tasks = stored["plan"], {t["code"]: t for t in stored["tasks"]}
    assert (plan["title"], plan["issuer"], plan["start"]) == ("青山县2026年乡村振兴重点任务分解表", "青山县乡村振兴领导小组办公室", "2026-03-02")
    assert list(tasks) == ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3"]
    assert tasks["1.2"]["section"] == ["一、基础设施", "交通"] and tasks["2.3"]["section"] == ["二、产业就业", "就业"]
    # The merged 责任领导 written 姓名\n(职务) leads both tasks it spans.
    assert [(o["name"], o["title"]) for o in tasks["1.2"]["lead_officials"]] == [("张志强", "县人民政府副县长")]
    assert [o["name"] for o in tasks["2.2"]["lead_officials"]] == ["王刚", "李红"]
    assert tasks["1.2"]["milestones"][0]["due"] == "2026-09-30"  # the Excel date cell
    assert (tasks["1.3"]["lead_unit"], tasks["1.3"]["co_lead_units"]) == ("县水利局", ["县卫生健康局"])
    assert tasks["1.3"]["note"] == "省考指标"
    assert [(m["due"], m["quantity"]) for m in tasks["1.3"]["milestones"]] == [("2026-06-30", 20), ("2026-12-31", 45)]
    assert (tasks["1.1"]["milestones"][0]["quantity"], tasks["1.1"]["milestones"][0]["measure"]) == (50, "公里")
    assert [m["due"] for m in tasks["2.1"]["milestones"]] == ["2026-04-30", "2026-12-31"]
    assert tasks["2.2"]["milestones"] == [] and [r["ongoing"] for r in tasks["2.2"]["recurrence"]] == [True]
    assert [m["due"] for m in tasks["2.3"]["milestones"]] == ["2026-12-31"] and tasks["2.3"]["recurrence"][0]["ongoing"]
    # The first sweep: one chase per item already overdue on the import day, the co-lead addressed with
    # the lead unit, and nothing owed for the months of ongoing work before supervision began.
    dry = json.loads(run(["sweep", "--dry-run", "--as-of", "2026-12-07", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    notices = dry["notices"] if isinstance(dry, dict) else dry
    assert sorted(n["task"] for n in notices if n["kind"] == "chase") == ["1.1", "1.2", "1.3", "2.1"]
    # 2.2's ongoing work reports November by the 5th working day of December, the import day itself: reminded
    assert [(n["task"], n["kind"], n["due"]) for n in notices if n["kind"] != "chase"] == [("2.2", "reminder", "2026-12-07")]
    co_led = next(n for n in notices if n["task"] == "1.3")
    assert "县卫生健康局" in json.dumps(co_led, ensure_ascii=False)
    run(["sweep", "--as-of", "2026-12-07"], cwd=tmp_path, db_url=sqlite_url)
    run(["deliver", "--as-of", "2026-12-07"], cwd=tmp_path, db_url=sqlite_url)
    letters = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted((tmp_path / "var" / "outbox").glob("*.eml"))]
    roads = next(m for m in letters if "县交通运输局" in str(m["Subject"]))
    body = roads.get_body(("plain",)).get_content()
    assert "2026年11月底前新改建农村公路50公里（2026年11月30日）" in body
    assert "2026年9月30日（2026年9月30日）" not in body and "2026年9月30日" in body


def test_the_word_plan_and_its_table_pasted_into_text_give_the_same_tasks(tmp_path: Path, sqlite_url: str) -> None:
    import docx

    d = docx.Document()
    for p in ["青山縣人民政府辦公室關於印發《青山縣2026年優化營商環境重點任務分工方案》的通知", "各鄉鎮人民政府，縣直各單位：",
              "《青山縣2026年優化營商環境重點任務分工方案》已經縣人民政府同意，現印發給你們，請認真貫徹落實。",
              "青山縣人民政府辦公室", "2026年3月5日", "青山縣2026年優化營商環境重點任務分工方案", "一、重點任務分工"]:
        d.add_paragraph(p)
    rows = [("序號", "類別", "重點任務", "具體措施", "責任領導", "牽頭單位", "責任單位", "完成時限"),
            ("1", "政務服務", "推進一網通辦", "網上可辦率達到95%以上", "劉洋（副縣長）", "縣政務服務中心", "縣直各部門", "2026年6月底前"),
            ("2", "", "壓縮審批時限", "審批時間壓縮至80個工作日以內", "", "縣住房城鄉建設局", "縣自然資源局、縣發展改革局", "2026年9月30日前"),
            ("3", "要素保障", "保障企業用地", "盤活存量建設用地300畝", "陳明\n（縣委常委、副縣長）", "縣自然資源局", "各鄉鎮人民政府",
             "2026年6月底前完成100畝，12月底前累計完成300畝"),
            ("4", "", "緩解融資難", "開展銀企對接活動", "", "縣金融服務中心", "人行青山支行\n各商業銀行", "每季度不少於1次"),
            ("5", "法治環境", "規範涉企執法", "開展涉企執法專項檢查", "劉洋（副縣長）", "縣司法局", "縣直各執法部門", "持續推進")]
    t = d.add_table(rows=len(rows), cols=8)
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            t.cell(i, j).text = v
    for top, col, text in ((1, 1, "政務服務"), (1, 4, "劉洋（副縣長）"), (3, 1, "要素保障"), (3, 4, "陳明\n（縣委常委、副縣長）")):
        t.cell(top, col).merge(t.cell(top + 1, col)).text = text
    d.add_paragraph("二、工作要求")
    d.add_paragraph("各牽頭單位要於每月5日前將上月工作進展報送縣優化營商環境領導小組辦公室。")
    d.save(tmp_path / "plan.docx")
    pasted = ["序號\t類別\t重點任務\t具體措施\t責任領導\t牽頭單位\t責任單位\t完成時限",
              "1\t政務服務\t推進一網通辦\t網上可辦率達到95%以上\t劉洋（副縣長）\t縣政務服務中心\t縣直各部門\t2026年6月底前",
              "2\t\t壓縮審批時限\t審批時間壓縮至80個工作日以內\t\t縣住房城鄉建設局\t縣自然資源局、縣發展改革局\t2026年9月30日前",
              "3\t要素保障\t保障企業用地\t盤活存量建設用地300畝\t陳明",
              "（縣委常委、副縣長）\t縣自然資源局\t各鄉鎮人民政府\t2026年6月底前完成100畝，12月底前累計完成300畝",
              "4\t\t緩解融資難\t開展銀企對接活動\t\t縣金融服務中心\t人行青山支行",
              "各商業銀行\t每季度不少於1次",
              "5\t法治環境\t規範涉企執法\t開展涉企執法專項檢查\t劉洋（副縣長）\t縣司法局\t縣直各執法部門\t持續推進"]
    (tmp_path / "plan.txt").write_text("青山縣2026年優化營商環境重點任務分工方案\n\n一、重點任務分工\n" + "\n".join(pasted) + "\n", encoding="utf-8")
    got = {}
    for name in ("plan.docx", "plan.txt"):
        out = f"{name}.yaml"
        run(["matrix", "extract", name, "-o", out], cwd=tmp_path, db_url=sqlite_url, check=False)
        run(["matrix", "import", out, "--plan", name.replace(".", "-"), "--allow-new-units", "--as-of", "2026-03-10"],
            cwd=tmp_path, db_url=sqlite_url)
        stored = json.loads(run(["matrix", "export", "--format", "json", "--plan", name.replace(".", "-")],
                                cwd=tmp_path, db_url=sqlite_url).stdout)
        got[name] = stored
        tasks = stored["tasks"]
        assert [t["title"] for t in tasks] == ["推進一網通辦", "壓縮審批時限", "保障企業用地", "緩解融資難", "規範涉企執法"]
        assert [t["section"][-1] for t in tasks] == ["政務服務", "政務服務", "要素保障", "要素保障", "法治環境"]
        assert [o["name"] for t in tasks for o in t["lead_officials"]] == ["劉洋", "劉洋", "陳明", "陳明", "劉洋"]
        assert tasks[3]["supporting_units"] == ["人行青山支行", "各商業銀行"]
        assert [m["quantity"] for m in tasks[2]["milestones"]] == [100, 300]
        assert tasks[4]["recurrence"][0]["ongoing"]
    docx_plan = got["plan.docx"]["plan"]
    assert (docx_plan["issuer"], docx_plan["start"]) == ("青山縣人民政府辦公室", "2026-03-05")
    # Task for task the same, but for where each came from and the start of a recurrence, which is the
    # plan's start: the notice's date in the .docx, 1 January of the base year for the bare table.
    def same(tasks: list[dict]) -> list[dict]:
        return [{k: ([{**r, "start": None} for r in v] if k == "recurrence" else v) for k, v in t.items() if k != "source"}
                for t in tasks]

    assert same(got["plan.docx"]["tasks"]) == same(got["plan.txt"]["tasks"])
