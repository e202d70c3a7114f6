"""Task sheets laid out as county offices keep them (任務分解表), built with openpyxl, in both scripts.

Written from how such tables are commonly laid out (no office's file copied): an 附件1 line, a title row
merged across, a 填報單位 / 填報時間 row, the header, category rows merged across the table (一、 then
（一）), 序號 restarting under each category, one 牽頭領導 merged down over several tasks, deadlines
typed as Excel dates, a 備註 column and a column duban does not know, an empty row, the header repeated
where a printed page begins, a cover sheet without tasks and a second task sheet with a 類別 column
merged down. ``county_workbook(path, script)`` writes it; ``COUNTY_UNITS`` is the unit directory.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

COUNTY_UNITS = """\
office:
  name: 縣脫貧攻堅領導小組辦公室
  kind: office
  emails: [office@example.org]
units:
  - {name: 縣交通運輸局, kind: department, emails: [jiaotong@example.org]}
  - {name: 縣水利局, kind: department, emails: [shuili@example.org]}
  - {name: 縣住房和城鄉建設局, aliases: [縣住建局], kind: department, emails: [zhujian@example.org]}
  - {name: 縣財政局, kind: department, emails: [caizheng@example.org]}
  - {name: 縣農業農村局, kind: department, emails: [nongye@example.org]}
  - {name: 縣商務局, kind: department, emails: [shangwu@example.org]}
  - {name: 縣人力資源和社會保障局, aliases: [縣人社局], kind: department, emails: [renshe@example.org]}
  - {name: 縣教育局, kind: department, emails: [jiaoyu@example.org]}
  - {name: 縣醫療保障局, aliases: [縣醫保局], kind: department, emails: [yibao@example.org]}
  - {name: 各鄉鎮人民政府, aliases: [各鄉鎮], kind: group, emails: [xiangzhen@example.org]}
"""

# The words of the workbook in each script, written out (not converted by the code under test).
_WORDS = {
    "traditional": {
        "cover": "封面", "cover_text": "XX縣2019年脫貧攻堅重點任務分解表（送審稿）", "sheet1": "脫貧攻堅", "sheet2": "三、社會保障",
        "title": "XX縣2019年脫貧攻堅重點任務分解表",
        "header": ["序號", "重點任務", "具體措施", "牽頭領導", "牽頭單位", "責任單位", "完成時限", "備註", "責任處室"],
        "header2": ["編號", "類別", "工作任務", "目標要求", "責任領導", "主責單位", "協辦單位", "時間節點"],
        "cat1": "一、基礎設施", "cat2": "二、產業就業", "sub1": "（一）產業扶貧", "sub2": "（二）就業扶貧",
        "cat3a": "教育保障", "cat3b": "醫療保障",
        "tasks": [
            ("農村公路建設", "新改建農村公路50公里", "縣交通運輸局", "各鄉鎮人民政府"),
            ("農村安全飲水", "鞏固提升農村飲水安全工程", "縣水利局", "各鄉鎮人民政府"),
            ("危房改造", "完成建檔立卡戶危房改造", "縣住建局", "縣財政局"),
            ("特色產業培育", "每個貧困村培育1個主導產業", "縣農業農村局", ""),
            ("消費扶貧", "組織扶貧產品進機關", "縣農業農村局", "縣商務局"),
            ("技能培訓", "培訓貧困勞動力500人次", "縣人社局", "各鄉鎮人民政府"),
            ("公益崗位", "開發公益崗位200個", "縣人社局", ""),
        ],
        "tasks2": [
            ("控輟保學", "義務教育階段無失學輟學", "縣教育局", ""),
            ("學生資助", "資助政策應享盡享", "縣教育局", "縣財政局"),
            ("醫保參保", "貧困人口參保率100%", "縣醫保局", ""),
        ],
        "officials": ["張志強(副縣長)", "李明（副縣長）", "王芳(副縣長)", "趙剛(副縣長)"],
        "note": "按月報送進度", "office": "扶貧股",
        "deadlines": ["2019年底", "2019年12月底前", "2019年6月底前"],
    },
    "simplified": {
        "cover": "说明", "cover_text": "填表说明：请各单位按月报送", "sheet1": "脱贫攻坚", "sheet2": "三、社会保障",
        "title": "XX县2019年脱贫攻坚重点任务分解表",
        "header": ["序号", "主要任务", "工作措施", "分管领导", "责任单位", "参与单位", "完成时间", "备注", "责任科室"],
        "header2": ["编号", "类别", "具体任务", "目标要求", "包保领导", "主责单位", "协办单位", "时限要求"],
        "cat1": "一、基础设施", "cat2": "二、产业就业", "sub1": "（一）产业扶贫", "sub2": "（二）就业扶贫",
        "cat3a": "教育保障", "cat3b": "医疗保障",
        "tasks": [
            ("农村公路建设", "新改建农村公路50公里", "县交通运输局", "各乡镇人民政府"),
            ("农村安全饮水", "巩固提升农村饮水安全工程", "县水利局", "各乡镇人民政府"),
            ("危房改造", "完成建档立卡户危房改造", "县住建局", "县财政局"),
            ("特色产业培育", "每个贫困村培育1个主导产业", "县农业农村局", ""),
            ("消费扶贫", "组织扶贫产品进机关", "县农业农村局", "县商务局"),
            ("技能培训", "培训贫困劳动力500人次", "县人社局", "各乡镇人民政府"),
            ("公益岗位", "开发公益岗位200个", "县人社局", ""),
        ],
        "tasks2": [
            ("控辍保学", "义务教育阶段无失学辍学", "县教育局", ""),
            ("学生资助", "资助政策应享尽享", "县教育局", "县财政局"),
            ("医保参保", "贫困人口参保率100%", "县医保局", ""),
        ],
        "officials": ["张志强(副县长)", "李明（副县长）", "王芳(副县长)", "赵刚(副县长)"],
        "note": "按月报送进度", "office": "扶贫股",
        "deadlines": ["2019年底", "2019年12月底前", "2019年6月底前"],
    },
}


def expected(script: str) -> list[tuple[str, list[str], str]]:
    """What the workbook holds, as stored: (code, section path, first due date) per task, in ``script``."""
    w = _WORDS[script]
    main, social = [w["sheet1"], w["cat1"]], [w["sheet2"], w["cat3a"]]
    industry, jobs = [w["sheet1"], w["cat2"], w["sub1"]], [w["sheet1"], w["cat2"], w["sub2"]]
    return [
        ("1.1", main, "2019-09-30"), ("1.2", main, "2019-12-31"), ("1.3", main, "2019-11-30"),
        ("2.1.1", industry, "2019-12-31"), ("2.1.2", industry, "2019-10-31"),
        ("2.2.1", jobs, "2019-06-30"), ("2.2.2", jobs, "2019-12-31"),
        ("3.1", social, "2019-09-01"), ("3.2", social, "2019-12-31"), ("3.3", [w["sheet2"], w["cat3b"]], "2019-12-31"),
    ]


def county_workbook(path: Path, script: str = "traditional") -> Path:
    """Write the county's workbook in ``script`` ("traditional" or "simplified") to ``path``."""
    from openpyxl import Workbook

    w = _WORDS[script]
    book = Workbook()
    cover = book.active
    cover.title = w["cover"]
    cover.append([w["cover_text"]])
    _main_sheet(book.create_sheet(w["sheet1"]), w, script)
    _second_sheet(book.create_sheet(w["sheet2"]), w)
    book.save(path)
    return path


def _main_sheet(ws, w: dict, script: str) -> None:
    tasks, officials, deadlines = w["tasks"], w["officials"], w["deadlines"]
    ws.append(["附件1"])
    ws.append([w["title"]])
    ws.merge_cells("A2:I2")
    if script == "traditional":  # one cell, as typed
        ws.append(["填報單位:XX縣人民政府辦公室  填報時間:2019年3月1日"])
    else:  # two cells, the date typed as a date
        ws.append(["填报单位：XX县人民政府办公室", None, None, None, None, "填报时间：", dt.date(2019, 3, 1)])
    ws.append(w["header"])                                                          # row 4
    ws.append([w["cat1"]])                                                          # row 5, merged across
    ws.merge_cells("A5:I5")
    ws.append([1, *tasks[0][:2], officials[0], *tasks[0][2:], dt.datetime(2019, 9, 30), None, w["office"]])
    ws.append([2, *tasks[1][:2], None, *tasks[1][2:], deadlines[0]])
    ws.append([3, *tasks[2][:2], None, *tasks[2][2:], "2019/11/30"])
    ws.merge_cells("D6:D8")                                                         # one official, three tasks
    ws.append([])                                                                   # row 9, empty
    ws.append([w["cat2"]])                                                          # row 10
    ws.merge_cells("A10:I10")
    ws.append([w["sub1"]])                                                          # row 11
    ws.merge_cells("A11:I11")
    ws.append([1, *tasks[3][:2], officials[1], *tasks[3][2:], dt.datetime(2019, 12, 31, 0, 0), w["note"]])
    ws.append(w["header"])                                                          # row 13: a printed page's header
    ws.append([2, *tasks[4][:2], officials[1], *tasks[4][2:], "2019-10-31"])
    ws.append([w["sub2"]])                                                          # row 15: alone in 序號
    ws.append([1, *tasks[5][:2], officials[2], *tasks[5][2:], deadlines[2]])
    ws.append([None, *tasks[6][:2], officials[2], *tasks[6][2:], deadlines[1]])    # no 序號


def _second_sheet(ws, w: dict) -> None:
    tasks, officials = w["tasks2"], w["officials"]
    ws.append([w["title"]])
    ws.merge_cells("A1:H1")
    ws.append(w["header2"])
    ws.append(["3.1", w["cat3a"], *tasks[0][:2], officials[3], *tasks[0][2:], dt.date(2019, 9, 1)])
    ws.append(["3.2", None, *tasks[1][:2], officials[3], *tasks[1][2:], w["deadlines"][1]])
    ws.merge_cells("B3:B4")                                                         # one 類別 for a block
    ws.append(["3.3", w["cat3b"], *tasks[2][:2], None, *tasks[2][2:], "2019年12月31日"])


# A sheet with an unnumbered 類別 column beside 序號, which restarts under each category row.
_CATEGORY_WORDS = {
    "traditional": {
        "header": ["序號", "類別", "重點任務", "具體措施", "責任領導", "牽頭單位", "責任單位", "完成時限", "備註"],
        "cat1": "一、基礎設施", "cat2": "二、產業就業", "kinds": ["交通", "交通", "水利", "產業", "就業", "就業"],
    },
    "simplified": {
        "header": ["序号", "类别", "重点任务", "具体措施", "责任领导", "牵头单位", "责任单位", "完成时限", "备注"],
        "cat1": "一、基础设施", "cat2": "二、产业就业", "kinds": ["交通", "交通", "水利", "产业", "就业", "就业"],
    },
}


def category_column_workbook(path: Path, script: str = "traditional", *, notes: tuple[str, ...] = ()) -> Path:
    """序號|類別|重點任務|…|備註 with category rows 一、 and 二、 merged across, 序號 1, 2, 3 again under
    each, and 類別 交通, 交通, 水利 / 產業, 就業, 就業 (unnumbered). ``notes`` fill 備註 row by row."""
    from openpyxl import Workbook

    w, t = _CATEGORY_WORDS[script], _WORDS[script]["tasks"]
    book = Workbook()
    ws = book.active
    ws.title = "任務分解表" if script == "traditional" else "任务分解表"
    ws.append(w["header"])
    rows = iter(range(6))
    for category in (w["cat1"], w["cat2"]):
        ws.append([category])
        ws.merge_cells(f"A{ws.max_row}:I{ws.max_row}")
        for number in (1, 2, 3):
            i = next(rows)
            task = t[i]
            note = notes[i] if i < len(notes) else None
            ws.append([number, w["kinds"][i], task[0], task[1], None, task[2], task[3] or None, "2019年12月底前", note])
    book.save(path)
    return path


def plain_workbook(path: Path, rows: list[list], merges: tuple[str, ...] = (), sheets: dict[str, list[list]] | None = None) -> Path:
    """A workbook of one sheet of ``rows`` (cells as typed; ``merges`` such as "C1:D1"), or of ``sheets``
    (name → rows, in order) when given: the small layouts offices send beside the county's workbook."""
    from openpyxl import Workbook

    book = Workbook()
    for index, (name, sheet_rows) in enumerate((sheets or {"Sheet": rows}).items()):
        ws = book.active if index == 0 else book.create_sheet(name)
        ws.title = name
        for row in sheet_rows:
            ws.append(row)
        if index == 0:
            for ref in merges:
                ws.merge_cells(ref)
    book.save(path)
    return path
